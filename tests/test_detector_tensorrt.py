"""The TensorRT backend (analytics/detectors/tensorrt.py), as far as it can run without a GPU.

What could NOT run here: TensorRT itself (its wheels need CUDA libraries that cannot be installed on
these machines) and any CUDA call that reaches a GPU (there is none). So no engine is really built,
nothing runs on a GPU, and nothing here says how TensorRT's FP16 arithmetic moves the detections:
bench/detector_parity.py --backend tensorrt measures that on a GPU host.

What runs for real:
- the pure parts: the engine-cache key and file name, the optimisation-profile shapes, the buffer
  sizes computed from the model spec, the cache directory setting;
- the installed cuda-python (no GPU needed): every CUDA call the backend makes, with the argument
  types it makes it with, is replayed against the real bindings, which must answer with a CUDA
  error code (no driver here) and never a TypeError;
- mypy over the module against tensorrt-stubs (when installed; see that test).

What is mocked, and only this: ``tensorrt`` and ``cuda.bindings.runtime`` are replaced, through
``sys.modules``, by fakes defined below. The fakes record every call with its arguments; "device
memory" is Python bytes, pinned host memory is real memory (ctypes), and the fake engine runs the
real ONNX model with ONNX Runtime on the bytes the backend copied to the "device". The tests check:
the sequence of builder calls and their arguments (explicit batch, workspace limit, FP16 flag or
not, profile shapes), the engine cache (written once, reused, rebuilt when unreadable), the
progress callback, the per-batch input shape and copy sizes, the order copy in -> execute -> copy
out -> synchronize on one stream, that detections through the fake engine equal ONNX Runtime's on
real frames (so the bytes go where they should), and that every device buffer, pinned buffer and
the stream are freed on close, on ``with`` exit and when loading fails halfway.
"""
from __future__ import annotations

import configparser
import ctypes
import dataclasses
import enum
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from analytics.detectors import ModelSpec, create
from analytics.detectors import tensorrt as backend
from bench.detector_parity import ASSETS, compare, read_frames, spec

ROOT = Path(__file__).resolve().parent.parent
DYNBATCH = ASSETS / "models" / "yolox_nano_dynbatch.onnx"
DYNBATCH_SHA256 = "aeaa526890485b59fd9b60e7791d215a3410c129020b66222962a3f085825adf"  # assets README
H100 = b"NVIDIA H100 80GB HBM3" + b"\0" * 235  # cuda-python gives the C char[256]


def model(max_batch: int = 32, onnx: Path = DYNBATCH) -> ModelSpec:
    return dataclasses.replace(spec(), onnx_path=str(onnx), max_batch=max_batch)


# --- the pure parts ---------------------------------------------------------------------------------


def test_the_buffers_hold_the_largest_batch_of_the_model_contract() -> None:
    shape_in, shape_out = backend.io_shapes(model(), 32)

    assert shape_in == (32, 3, 416, 416)
    assert shape_out == (32, 3549, 85)  # 52x52 + 26x26 + 13x13 anchors, 5 + 80 columns
    assert backend.buffer_bytes(model(), 32) == (32 * 3 * 416 * 416 * 4, 32 * 3549 * 85 * 4)
    assert backend.buffer_bytes(model(), 1, itemsize=2) == (3 * 416 * 416 * 2, 3549 * 85 * 2)


def test_the_profile_spans_batches_1_to_max_and_is_tuned_for_half_of_it() -> None:
    assert backend.profile_shapes(model(32)) == ((1, 3, 416, 416), (16, 3, 416, 416), (32, 3, 416, 416))
    assert backend.profile_shapes(model(5)) == ((1, 3, 416, 416), (2, 3, 416, 416), (5, 3, 416, 416))
    assert backend.profile_shapes(model(1)) == ((1, 3, 416, 416),) * 3


def test_a_model_exported_with_a_fixed_batch_gets_that_batch_only() -> None:
    assert backend.profile_shapes(model(32), static_batch=1) == ((1, 3, 416, 416),) * 3


def test_the_model_hash_is_the_specs_or_else_the_files() -> None:
    assert backend.model_sha256(dataclasses.replace(model(), sha256="ABC")) == "abc"
    assert backend.model_sha256(model()) == DYNBATCH_SHA256


def test_the_engine_file_name_spells_out_its_key_and_changes_with_every_part_of_it() -> None:
    key = backend.EngineKey(DYNBATCH_SHA256, "NVIDIA H100 80GB HBM3", (9, 0), "10.13.0.35", "fp16", 32, (416, 416))

    assert key.filename() == "aeaa526890485b59-nvidia-h100-80gb-hbm3-sm90-trt10.13.0.35-fp16-b32-416x416.engine"
    changed = [
        dataclasses.replace(key, model_sha256="0" * 64), dataclasses.replace(key, gpu_name="NVIDIA L4"),
        dataclasses.replace(key, compute_capability=(8, 9)), dataclasses.replace(key, trt_version="10.14.1"),
        dataclasses.replace(key, precision="fp32"), dataclasses.replace(key, max_batch=16),
        dataclasses.replace(key, input_size=(640, 640)),
    ]
    assert len({key.filename(), *(k.filename() for k in changed)}) == 1 + len(changed)


def test_the_engine_key_comes_from_the_spec_and_refuses_an_unknown_precision() -> None:
    key = backend.engine_key(model(8), "fp32", "NVIDIA L4", (8, 9), "10.13.0.35")

    assert (key.model_sha256, key.max_batch, key.input_size, key.precision) == (DYNBATCH_SHA256, 8, (416, 416), "fp32")
    with pytest.raises(ValueError, match="precision"):
        backend.engine_key(model(), "int8", "NVIDIA L4", (8, 9), "10.13.0.35")  # type: ignore[arg-type]


def test_the_cache_directory_is_the_environments_or_the_users_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PANOPTES_ENGINE_CACHE", "/srv/engines")
    assert backend.default_cache_dir() == Path("/srv/engines")
    monkeypatch.delenv("PANOPTES_ENGINE_CACHE")
    assert backend.default_cache_dir() == Path.home() / ".cache" / "panoptes" / "engines"


# --- fakes of tensorrt and cuda.bindings.runtime (what cannot exist here) ----------------------------


class FakeStream:
    def __init__(self, handle: int) -> None:
        self.handle = handle

    def __int__(self) -> int:
        return self.handle


class FakeCudart(types.ModuleType):
    """cuda.bindings.runtime: (error, *values) tuples; device memory is bytearrays, pinned memory real."""

    class cudaError_t(enum.IntEnum):
        cudaSuccess = 0
        cudaErrorInvalidValue = 1
        cudaErrorMemoryAllocation = 2

    class cudaMemcpyKind(enum.IntEnum):
        cudaMemcpyHostToDevice = 1
        cudaMemcpyDeviceToHost = 2

    def __init__(self, calls: list[tuple[Any, ...]]) -> None:
        super().__init__("cuda.bindings.runtime")
        self.calls = calls
        self.device: dict[int, bytearray] = {}
        self.host: dict[int, ctypes.Array[ctypes.c_byte]] = {}
        self.streams: dict[int, FakeStream] = {}
        self.next_address = 0x7F00_0000_0000
        self.fail_malloc_after: int | None = None  # make the n-th cudaMalloc run out of memory

    def _call(self, name: str, *args: Any) -> None:
        self.calls.append((name, *args))

    def cudaSetDevice(self, device: int) -> tuple[Any, ...]:
        self._call("cudaSetDevice", device)
        return (self.cudaError_t.cudaSuccess,)

    def cudaGetDeviceProperties(self, device: int) -> tuple[Any, ...]:
        self._call("cudaGetDeviceProperties", device)
        return self.cudaError_t.cudaSuccess, types.SimpleNamespace(name=H100, major=9, minor=0)

    def cudaMalloc(self, size: int) -> tuple[Any, ...]:
        self._call("cudaMalloc", size)
        if self.fail_malloc_after is not None and self.fail_malloc_after <= len(self.device):
            return self.cudaError_t.cudaErrorMemoryAllocation, None
        self.next_address += 1 << 28
        self.device[self.next_address] = bytearray(size)
        return self.cudaError_t.cudaSuccess, self.next_address

    def cudaFree(self, ptr: int) -> tuple[Any, ...]:
        self._call("cudaFree", ptr)
        return (self.cudaError_t.cudaSuccess if self.device.pop(ptr, None) is not None else self.cudaError_t.cudaErrorInvalidValue,)

    def cudaMallocHost(self, size: int) -> tuple[Any, ...]:
        self._call("cudaMallocHost", size)
        buffer = (ctypes.c_byte * size)()
        self.host[ctypes.addressof(buffer)] = buffer
        return self.cudaError_t.cudaSuccess, ctypes.addressof(buffer)

    def cudaFreeHost(self, ptr: int) -> tuple[Any, ...]:
        self._call("cudaFreeHost", ptr)
        return (self.cudaError_t.cudaSuccess if self.host.pop(ptr, None) is not None else self.cudaError_t.cudaErrorInvalidValue,)

    def cudaStreamCreate(self) -> tuple[Any, ...]:
        self._call("cudaStreamCreate")
        stream = FakeStream(0x5000 + len(self.streams))
        self.streams[int(stream)] = stream
        return self.cudaError_t.cudaSuccess, stream

    def cudaStreamDestroy(self, stream: FakeStream) -> tuple[Any, ...]:
        self._call("cudaStreamDestroy", stream)
        return (self.cudaError_t.cudaSuccess if self.streams.pop(int(stream), None) else self.cudaError_t.cudaErrorInvalidValue,)

    def cudaStreamSynchronize(self, stream: FakeStream) -> tuple[Any, ...]:
        self._call("cudaStreamSynchronize", stream)
        return (self.cudaError_t.cudaSuccess if int(stream) in self.streams else self.cudaError_t.cudaErrorInvalidValue,)

    def cudaMemcpyAsync(self, dst: int, src: int, count: int, kind: Any, stream: FakeStream) -> tuple[Any, ...]:
        self._call("cudaMemcpyAsync", dst, src, count, kind, stream)
        assert int(stream) in self.streams
        if kind == self.cudaMemcpyKind.cudaMemcpyHostToDevice:
            assert src in self.host and count <= len(self.host[src]) and count <= len(self.device[dst])
            self.device[dst][:count] = ctypes.string_at(src, count)
        else:
            assert dst in self.host and count <= len(self.host[dst]) and count <= len(self.device[src])
            ctypes.memmove(dst, bytes(self.device[src][:count]), count)
        return (self.cudaError_t.cudaSuccess,)


def fake_tensorrt(cuda: FakeCudart, calls: list[tuple[Any, ...]]) -> types.ModuleType:
    """The TensorRT 10 API the backend uses; the "engine" runs the ONNX model with ONNX Runtime."""
    trt = types.ModuleType("tensorrt")
    trt.__version__ = "10.13.0.35"  # type: ignore[attr-defined]

    class ILogger:
        class Severity(enum.IntEnum):
            INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = range(5)

        def __init__(self) -> None:
            pass

    class IProgressMonitor:
        def __init__(self) -> None:
            pass

    class Dims(tuple):  # type: ignore[type-arg]
        pass

    MemoryPoolType = enum.Enum("MemoryPoolType", "WORKSPACE")
    BuilderFlag = enum.Enum("BuilderFlag", "FP16")
    TensorIOMode = enum.Enum("TensorIOMode", "NONE INPUT OUTPUT")
    DataType = enum.Enum("DataType", "FLOAT HALF")

    @dataclasses.dataclass
    class Tensor:
        name: str
        shape: Dims

    class Network:
        def __init__(self) -> None:
            self.inputs: list[Tensor] = []
            self.outputs: list[Tensor] = []
            self.onnx_path = ""

        def get_input(self, index: int) -> Tensor:
            return self.inputs[index]

    class OnnxParser:
        def __init__(self, network: Network, logger: ILogger) -> None:
            self.network, self.errors = network, []  # type: list[str]

        def parse_from_file(self, path: str) -> bool:
            calls.append(("parse_from_file", path))
            try:
                session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            except Exception as exc:  # the parser reports, it does not raise
                self.errors.append(f"ModelImporter: {exc.__class__.__name__}")
                return False
            dims = lambda shape: Dims(d if isinstance(d, int) else -1 for d in shape)  # noqa: E731
            self.network.inputs = [Tensor(i.name, dims(i.shape)) for i in session.get_inputs()]
            self.network.outputs = [Tensor(o.name, dims(o.shape)) for o in session.get_outputs()]
            self.network.onnx_path = path
            return True

        @property
        def num_errors(self) -> int:
            return len(self.errors)

        def get_error(self, index: int) -> str:
            return self.errors[index]

    class Profile:
        def __init__(self) -> None:
            self.shapes: dict[str, tuple[Dims, Dims, Dims]] = {}

        def set_shape(self, name: str, low: Dims, opt: Dims, high: Dims) -> None:
            calls.append(("set_shape", name, tuple(low), tuple(opt), tuple(high)))
            self.shapes[name] = (low, opt, high)

    class Config:
        def __init__(self) -> None:
            self.flags: set[Any] = set()
            self.profiles: list[Profile] = []
            self.progress_monitor: IProgressMonitor | None = None

        def set_memory_pool_limit(self, pool: Any, size: int) -> None:
            calls.append(("set_memory_pool_limit", pool, size))

        def set_flag(self, flag: Any) -> None:
            calls.append(("set_flag", flag))
            self.flags.add(flag)

        def add_optimization_profile(self, profile: Profile) -> int:
            calls.append(("add_optimization_profile",))
            self.profiles.append(profile)
            return len(self.profiles) - 1

    class Builder:
        def __init__(self, logger: ILogger) -> None:
            assert isinstance(logger, ILogger)

        def create_network(self, flags: int = 0) -> Network:
            calls.append(("create_network", flags))
            return Network()

        def create_builder_config(self) -> Config:
            return Config()

        def create_optimization_profile(self) -> Profile:
            return Profile()

        def build_serialized_network(self, network: Network, config: Config) -> bytes | None:
            calls.append(("build_serialized_network",))
            (name, (low, opt, high)), = config.profiles[0].shapes.items()
            monitor = config.progress_monitor
            if monitor is not None:
                monitor.phase_start("Building engine", None, 2)  # type: ignore[attr-defined]
                for step in range(2):
                    if not monitor.step_complete("Building engine", step):  # type: ignore[attr-defined]
                        monitor.phase_finish("Building engine")  # type: ignore[attr-defined]
                        return None
                monitor.phase_finish("Building engine")  # type: ignore[attr-defined]
            plan = {
                "onnx": network.onnx_path, "input": name, "output": network.outputs[0].name,
                "profile": [list(low), list(opt), list(high)], "output_shape": list(network.outputs[0].shape),
                "fp16": BuilderFlag.FP16 in config.flags,
            }
            return b"FAKEPLAN" + json.dumps(plan).encode()

    class Context:
        def __init__(self, engine: Engine) -> None:
            self.engine, self.shape, self.addresses = engine, None, {}  # type: Engine, tuple[int, ...] | None, dict[str, int]

        def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
            calls.append(("set_input_shape", name, tuple(shape)))
            low, _, high = self.engine.plan["profile"]
            ok = name == self.engine.plan["input"] and all(a <= s <= b for a, s, b in zip(low, shape, high, strict=True))
            self.shape = tuple(shape) if ok else None
            return ok

        def set_tensor_address(self, name: str, address: int) -> bool:
            calls.append(("set_tensor_address", name, address))
            self.addresses[name] = address
            return address in cuda.device

        def execute_async_v3(self, stream_handle: int) -> bool:
            calls.append(("execute_async_v3", stream_handle))
            assert type(stream_handle) is int and stream_handle in cuda.streams
            assert self.shape is not None
            plan = self.engine.plan
            size = int(np.prod(self.shape)) * 4
            batch = np.frombuffer(bytes(cuda.device[self.addresses[plan["input"]]][:size]), np.float32).reshape(self.shape)
            out = self.engine.session.run(None, {plan["input"]: batch})[0]
            target = cuda.device[self.addresses[plan["output"]]]
            assert out.nbytes <= len(target)
            target[: out.nbytes] = out.tobytes()
            return True

    class Engine:
        def __init__(self, plan: dict[str, Any]) -> None:
            self.plan = plan
            self.session = ort.InferenceSession(plan["onnx"], providers=["CPUExecutionProvider"])

        @property
        def num_io_tensors(self) -> int:
            return 2

        def get_tensor_name(self, index: int) -> str:
            return [self.plan["input"], self.plan["output"]][index]

        def get_tensor_mode(self, name: str) -> Any:
            return TensorIOMode.INPUT if name == self.plan["input"] else TensorIOMode.OUTPUT

        def get_tensor_dtype(self, name: str) -> Any:
            return DataType.FLOAT

        def get_tensor_shape(self, name: str) -> Dims:
            return Dims(self.plan["output_shape"]) if name == self.plan["output"] else Dims([-1, 3, 416, 416])

        def get_tensor_profile_shape(self, name: str, profile: int) -> list[Dims]:
            assert (name, profile) == (self.plan["input"], 0)
            return [Dims(s) for s in self.plan["profile"]]

        def create_execution_context(self) -> Context:
            calls.append(("create_execution_context",))
            return Context(self)

    class Runtime:
        def __init__(self, logger: ILogger) -> None:
            assert isinstance(logger, ILogger)

        def deserialize_cuda_engine(self, data: bytes) -> Engine | None:
            calls.append(("deserialize_cuda_engine",))
            if not data.startswith(b"FAKEPLAN"):
                return None  # what TensorRT does with a foreign or damaged plan (and logs why)
            return Engine(json.loads(data[len(b"FAKEPLAN"):]))

    for name, value in list(locals().items()):
        if isinstance(value, type):
            setattr(trt, name, value)
    trt.Logger = ILogger  # type: ignore[attr-defined]
    return trt


@dataclasses.dataclass
class Fakes:
    calls: list[tuple[Any, ...]]
    cuda: FakeCudart
    trt: types.ModuleType
    cache: Path

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]

    def engines(self) -> list[Path]:
        return sorted(self.cache.glob("*.engine"))


def install_fakes(monkeypatch: pytest.MonkeyPatch, cache: Path) -> Fakes:
    """Put the fakes in ``sys.modules`` (monkeypatch takes them out again)."""
    calls: list[tuple[Any, ...]] = []
    cuda = FakeCudart(calls)
    trt = fake_tensorrt(cuda, calls)
    cuda_package, bindings = types.ModuleType("cuda"), types.ModuleType("cuda.bindings")
    cuda_package.bindings = bindings  # type: ignore[attr-defined]
    bindings.runtime = cuda  # type: ignore[attr-defined]
    for name, module in {"tensorrt": trt, "cuda": cuda_package, "cuda.bindings": bindings, "cuda.bindings.runtime": cuda}.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setenv("PANOPTES_ENGINE_CACHE", str(cache))
    backend._trt_logger.cache_clear()  # each test's logger comes from its own fake
    return Fakes(calls, cuda, trt, cache)


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Fakes]:
    yield install_fakes(monkeypatch, tmp_path / "engines")
    backend._trt_logger.cache_clear()


# --- build and cache (fakes) ------------------------------------------------------------------------


def test_it_builds_an_fp16_engine_with_a_profile_for_batches_1_to_32_and_caches_it(fakes: Fakes) -> None:
    with create("tensorrt", model(32)):
        pass

    trt = fakes.trt
    built = [c for c in fakes.calls if c[0] in {"create_network", "set_memory_pool_limit", "set_flag", "set_shape", "add_optimization_profile", "build_serialized_network"}]
    assert built == [
        ("create_network", 0),
        ("set_memory_pool_limit", trt.MemoryPoolType.WORKSPACE, 1 << 30),
        ("set_flag", trt.BuilderFlag.FP16),
        ("set_shape", "images", (1, 3, 416, 416), (16, 3, 416, 416), (32, 3, 416, 416)),
        ("add_optimization_profile",),
        ("build_serialized_network",),
    ]
    assert ("parse_from_file", str(DYNBATCH)) in fakes.calls
    assert [p.name for p in fakes.engines()] == [f"{DYNBATCH_SHA256[:16]}-nvidia-h100-80gb-hbm3-sm90-trt10.13.0.35-fp16-b32-416x416.engine"]
    assert not list(fakes.cache.glob("*.partial"))


def test_a_second_detector_reuses_the_cached_engine(fakes: Fakes) -> None:
    create("tensorrt", model(8)).close()  # type: ignore[attr-defined]
    fakes.calls.clear()

    create("tensorrt", model(8)).close()  # type: ignore[attr-defined]

    assert "build_serialized_network" not in fakes.names()
    assert "deserialize_cuda_engine" in fakes.names()


def test_fp32_engines_set_no_fp16_flag_and_are_cached_beside_fp16_ones(fakes: Fakes) -> None:
    create("tensorrt", model(8), precision="fp32").close()  # type: ignore[attr-defined]
    assert "set_flag" not in fakes.names()

    create("tensorrt", model(8), precision="fp16").close()  # type: ignore[attr-defined]

    assert [p.name.split("-")[-3] for p in fakes.engines()] == ["fp16", "fp32"]


def test_an_unknown_precision_is_refused_before_anything_is_allocated(fakes: Fakes) -> None:
    with pytest.raises(ValueError, match="precision"):
        create("tensorrt", model(8), precision="int8")
    assert fakes.calls == []


def test_a_model_exported_with_a_batch_of_one_gets_a_batch_one_profile_and_runs_frame_by_frame(fakes: Fakes) -> None:
    frames = read_frames()[:3]
    with create("tensorrt", model(32, ASSETS / "models" / "yolox_nano.onnx")) as detector:  # type: ignore[attr-defined]
        fakes.calls.clear()
        found = detector.detect(frames)

    assert [c for c in fakes.calls if c[0] == "set_input_shape"] == [("set_input_shape", "images", (1, 3, 416, 416))] * 3
    reference = create("onnxruntime", model(32)).detect(frames)
    assert all(compare(r, f).within() for r, f in zip(reference, found, strict=True))


def test_build_progress_is_reported_phase_by_phase(fakes: Fakes) -> None:
    seen: list[tuple[str, str | None, int, int]] = []

    backend.build_engine(model(8), progress=lambda *event: seen.append(event))

    assert seen == [("Building engine", None, 0, 2), ("Building engine", None, 1, 2), ("Building engine", None, 2, 2), ("Building engine", None, 2, 2)]


def test_an_interrupt_during_the_build_cancels_it_and_is_raised(fakes: Fakes) -> None:
    def interrupted(phase: str, parent: str | None, done: int, total: int) -> None:
        if done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backend.build_engine(model(8), progress=interrupted)

    assert fakes.engines() == []


def test_a_cached_engine_that_does_not_deserialize_is_built_again(fakes: Fakes) -> None:
    path = backend.build_engine(model(8))
    path.write_bytes(b"an engine from another TensorRT build")
    fakes.calls.clear()

    with create("tensorrt", model(8)):
        pass

    assert fakes.names().count("build_serialized_network") == 1
    assert path.read_bytes().startswith(b"FAKEPLAN")


def test_a_model_tensorrt_cannot_parse_is_an_error_naming_the_file_and_the_parsers_message(fakes: Fakes, tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")

    with pytest.raises(backend.EngineBuildError, match=r"broken\.onnx: ModelImporter"):
        create("tensorrt", dataclasses.replace(model(8), onnx_path=str(broken), sha256="0" * 64))

    assert fakes.cuda.device == {} and fakes.cuda.host == {}


# --- inference and buffers (fakes) ------------------------------------------------------------------


def test_detections_through_the_engine_buffers_are_onnxruntimes_on_real_frames(fakes: Fakes) -> None:
    frames = read_frames()  # 4 frames, max batch 3: one full batch and one of 1
    with create("tensorrt", model(3)) as detector:  # type: ignore[attr-defined]
        found = detector.detect(frames)

    reference = create("onnxruntime", model(3)).detect(frames)
    for ref, got in zip(reference, found, strict=True):
        np.testing.assert_allclose(got.boxes, ref.boxes, atol=1e-3)
        np.testing.assert_array_equal(got.classes, ref.classes)


def test_each_batch_sets_its_shape_and_copies_only_its_own_bytes_on_one_stream(fakes: Fakes) -> None:
    frames = read_frames()[:2]
    with create("tensorrt", model(4)) as detector:  # type: ignore[attr-defined]
        fakes.calls.clear()
        detector.detect(frames)
        stream, calls = detector._stream, list(fakes.calls)

    cuda = fakes.cuda
    in_bytes, out_bytes = backend.buffer_bytes(model(4), 2)
    assert calls == [
        ("set_input_shape", "images", (2, 3, 416, 416)),
        ("cudaMemcpyAsync", detector._device_in, detector._host_in_ptr, in_bytes, cuda.cudaMemcpyKind.cudaMemcpyHostToDevice, stream),
        ("execute_async_v3", int(stream)),
        ("cudaMemcpyAsync", detector._host_out_ptr, detector._device_out, out_bytes, cuda.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream),
        ("cudaStreamSynchronize", stream),
    ]


def test_the_buffers_are_sized_for_the_largest_batch_and_their_addresses_set_once(fakes: Fakes) -> None:
    with create("tensorrt", model(4)) as detector:  # type: ignore[attr-defined]
        pass

    in_bytes, out_bytes = backend.buffer_bytes(model(4), 4)
    assert [c[1] for c in fakes.calls if c[0] == "cudaMalloc"] == [in_bytes, out_bytes]
    assert [c[1] for c in fakes.calls if c[0] == "cudaMallocHost"] == [in_bytes, out_bytes]
    assert [c[1:] for c in fakes.calls if c[0] == "set_tensor_address"] == [("images", detector._device_in), ("output", detector._device_out)]


def test_closing_frees_every_device_and_pinned_buffer_and_the_stream(fakes: Fakes) -> None:
    detector = create("tensorrt", model(4))
    assert len(fakes.cuda.device) == 2 and len(fakes.cuda.host) == 2 and len(fakes.cuda.streams) == 1

    detector.close()  # type: ignore[attr-defined]
    detector.close()  # type: ignore[attr-defined]  # twice is harmless

    assert fakes.cuda.device == {} and fakes.cuda.host == {} and fakes.cuda.streams == {}
    assert fakes.names().count("cudaFree") == 2 and fakes.names().count("cudaFreeHost") == 2
    assert detector.context is None and detector.engine is None  # type: ignore[attr-defined]


def test_leaving_a_with_block_frees_the_gpu_memory_even_after_an_error(fakes: Fakes) -> None:
    with pytest.raises(RuntimeError, match="boom"), create("tensorrt", model(4)):
        raise RuntimeError("boom")

    assert fakes.cuda.device == {} and fakes.cuda.host == {} and fakes.cuda.streams == {}


def test_running_out_of_gpu_memory_while_loading_frees_what_was_allocated(fakes: Fakes) -> None:
    fakes.cuda.fail_malloc_after = 1  # the output buffer does not fit

    with pytest.raises(backend.CudaError, match="cudaErrorMemoryAllocation"):
        create("tensorrt", model(4))

    assert fakes.cuda.device == {} and fakes.cuda.host == {} and fakes.cuda.streams == {}


# --- the real cuda-python bindings (no GPU needed) ----------------------------------------------------


def test_every_cuda_call_the_backend_makes_is_accepted_by_the_installed_cuda_python(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Record the backend's CUDA calls through the fakes, then replay them, with the same argument
    types, against the real bindings: with no driver each answers an error code; a wrong argument
    type or a renamed function would raise instead."""
    try:
        from cuda.bindings import runtime as real
    except ImportError:
        pytest.skip("cuda-python is not installed (tests/requirements.txt has cuda-bindings)")
    err, count = real.cudaGetDeviceCount()
    if err == real.cudaError_t.cudaSuccess and count > 0:
        pytest.skip("a GPU is present: replaying made-up pointers against it would be unsafe")

    with monkeypatch.context() as patch:
        recorded = install_fakes(patch, tmp_path / "engines")
        with create("tensorrt", model(2)) as detector:  # type: ignore[attr-defined]
            detector.detect(read_frames()[:1])
    backend._trt_logger.cache_clear()
    cuda_calls = [c for c in recorded.calls if c[0].startswith("cuda")]

    def real_arg(arg: Any) -> Any:
        if isinstance(arg, FakeStream):
            return real.cudaStream_t()
        if isinstance(arg, enum.Enum):  # the fake's enums carry cuda-python's class and member names
            return getattr(getattr(real, type(arg).__name__), arg.name)
        return arg

    assert {c[0] for c in cuda_calls} == {
        "cudaSetDevice", "cudaGetDeviceProperties", "cudaStreamCreate", "cudaMallocHost", "cudaMalloc",
        "cudaMemcpyAsync", "cudaStreamSynchronize", "cudaFree", "cudaFreeHost", "cudaStreamDestroy",
    }
    for name, *args in cuda_calls:
        answer = getattr(real, name)(*(real_arg(a) for a in args))
        assert isinstance(answer, tuple) and isinstance(answer[0], real.cudaError_t), name
        assert answer[0] != real.cudaError_t.cudaSuccess, name  # no driver here


def test_with_the_real_cuda_python_and_no_gpu_the_error_names_the_cuda_failure() -> None:
    try:
        from cuda.bindings import runtime as real
    except ImportError:
        pytest.skip("cuda-python is not installed (tests/requirements.txt has cuda-bindings)")
    if real.cudaGetDeviceCount()[0] == real.cudaError_t.cudaSuccess:
        pytest.skip("this host has a CUDA driver")

    with pytest.raises(backend.CudaError, match=r"CUDA call failed: cudaError(InsufficientDriver|NoDevice)"):
        backend.gpu(0)


# --- types: mypy against tensorrt-stubs ---------------------------------------------------------------


def _repaired_stubs(into: Path) -> Path | None:
    """A copy of tensorrt-stubs that mypy can read, or None when it is not installed.

    tensorrt-stubs 10.13.0.35.1 cannot be used as installed: it ships ``tensorrt/`` without a
    py.typed marker (mypy ignores it), it has parameters named ``in`` and one parameter without a
    default after defaulted ones (syntax errors). The copy renames and defaults them.
    """
    found = importlib.util.find_spec("tensorrt_stubs")
    if found is None or found.origin is None:
        return None
    site = Path(found.origin).parent.parent
    for package in ("tensorrt", "tensorrt_bindings"):
        shutil.copytree(site / package, into / package, ignore=shutil.ignore_patterns("__pycache__"))
    for stub in into.rglob("*.pyi"):
        text = re.sub(r"\bin: ", "in_: ", stub.read_text())
        text = re.sub(r"(= None, channel_axis: int)\)", r"\1 = ...)", text)
        stub.write_text(text)
    return into


@pytest.mark.slow
def test_the_backend_type_checks_against_tensorrt_stubs(tmp_path: Path) -> None:
    """The house mypy settings, with the stubs on MYPYPATH (errors inside the stubs are theirs)."""
    stubs = _repaired_stubs(tmp_path / "stubs")
    if stubs is None:
        pytest.skip("tensorrt-stubs is not installed: pip install --no-deps tensorrt-stubs==10.13.0.35.1 "
                    "(its dependency on TensorRT itself cannot be installed here)")
    config = configparser.ConfigParser()
    config.read(ROOT / ".ci" / "mypy.ini")
    config.remove_option("mypy", "plugins")  # django-stubs' plugin is not needed for analytics/
    config["mypy-tensorrt,tensorrt.*,tensorrt_bindings,tensorrt_bindings.*"] = {"ignore_errors": "True"}
    with open(tmp_path / "mypy.ini", "w") as f:
        config.write(f)
    # A deliberate mistake proves the stubs are in use (without them, tensorrt is Any and passes).
    (tmp_path / "canary.py").write_text("import tensorrt as trt\n\nflag = trt.BuilderFlag.FP17\n")
    env = {"MYPYPATH": str(stubs), "PATH": str(Path(sys.executable).parent)}

    def mypy(*paths: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(Path(sys.executable).parent / "mypy"), "--config-file", str(tmp_path / "mypy.ini"),
             "--cache-dir", str(tmp_path / "cache"), *paths],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
        )

    canary = mypy(str(tmp_path / "canary.py"))
    assert 'has no attribute "FP17"' in canary.stdout, canary.stdout[-3000:]
    result = mypy("analytics/detectors/tensorrt.py")
    assert result.returncode == 0, result.stdout[-5000:]
