"""TensorRT backend (DESIGN §9): an engine built per GPU host from the ONNX file, cached on disk, run
with explicit device buffers and a CUDA stream (cuda-python).

Written against the TensorRT 10 Python API (tensor names, ``execute_async_v3``, explicit batch) and
cuda-python's runtime bindings. Neither library is imported until a detector or an engine is built,
so this module imports on hosts without them (``analytics`` is imported whole by the type checks).

Used by ``detectors.create("tensorrt", spec)`` and, for building engines ahead of time with a
progress display, by ``build_engine`` (the ``manage.py build_engine`` command).
"""
from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from analytics.detectors.base import Detector, ModelSpec
from analytics.detectors.postprocess import STRIDES

if TYPE_CHECKING:
    import tensorrt as trt

logger = logging.getLogger(__name__)

Precision = Literal["fp16", "fp32"]
PRECISIONS: tuple[Precision, ...] = ("fp16", "fp32")
Shape = tuple[int, ...]

# Progress of an engine build, for a rich/tqdm display: (phase, parent phase or None, steps done,
# steps in the phase). TensorRT reports nested phases ("Building engine" > "Tactic selection" > ...);
# a phase is started with done=0 and finished with done=total.
BuildProgress = Callable[[str, str | None, int, int], None]

# TensorRT caps the scratch memory tactics may ask for; YOLOX-Nano (1 GFLOP) needs a small part of it.
DEFAULT_WORKSPACE = 1 << 30


class EngineBuildError(RuntimeError):
    pass


class CudaError(RuntimeError):
    pass


def default_cache_dir() -> Path:
    """``$PANOPTES_ENGINE_CACHE``, else ``~/.cache/panoptes/engines`` (read at call time)."""
    return Path(os.environ.get("PANOPTES_ENGINE_CACHE") or Path.home() / ".cache" / "panoptes" / "engines")


# --- pure helpers: shapes, sizes and cache keys (tested without a GPU) -------------------------------


def io_shapes(spec: ModelSpec, batch: int) -> tuple[Shape, Shape]:
    """(input NCHW, output (N, anchors, 5 + classes)) for ``batch`` images, from the model contract."""
    w, h = spec.input_width, spec.input_height
    anchors = sum((h // s) * (w // s) for s in STRIDES)
    return (batch, 3, h, w), (batch, anchors, 5 + len(spec.class_names))


def buffer_bytes(spec: ModelSpec, batch: int, itemsize: int = 4) -> tuple[int, int]:
    """Bytes of the (input, output) buffers that hold ``batch`` images (float32 unless told)."""
    shape_in, shape_out = io_shapes(spec, batch)
    return int(np.prod(shape_in)) * itemsize, int(np.prod(shape_out)) * itemsize


def profile_shapes(spec: ModelSpec, static_batch: int | None = None) -> tuple[Shape, Shape, Shape]:
    """(min, opt, max) input shapes of the optimisation profile.

    Batches of 1 up to ``spec.max_batch``, tuned for half of the maximum: a worker batches the frames
    of the cameras that are due at once, rarely all of them. A model exported with a fixed batch
    (``yolox_nano.onnx``) gets that batch only.
    """
    if static_batch is not None:
        fixed = io_shapes(spec, static_batch)[0]
        return fixed, fixed, fixed
    opt = max(1, spec.max_batch // 2)
    return io_shapes(spec, 1)[0], io_shapes(spec, opt)[0], io_shapes(spec, spec.max_batch)[0]


def model_sha256(spec: ModelSpec) -> str:
    """The spec's hash when the control plane gave one, else the file's."""
    if spec.sha256:
        return spec.sha256.lower()
    digest = hashlib.sha256()
    with open(spec.onnx_path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class EngineKey:
    """What a serialized engine depends on: it only runs on the GPU model and TensorRT version it was built for."""

    model_sha256: str
    gpu_name: str
    compute_capability: tuple[int, int]
    trt_version: str
    precision: Precision
    max_batch: int
    input_size: tuple[int, int]  # width, height

    def filename(self) -> str:
        # 16 hex digits (64 bits) of the model hash tell models apart; the rest is spelled out so an
        # operator can see which engine is which.
        gpu = re.sub(r"[^a-z0-9]+", "-", self.gpu_name.lower()).strip("-") or "gpu"
        major, minor = self.compute_capability
        w, h = self.input_size
        return (
            f"{self.model_sha256[:16]}-{gpu}-sm{major}{minor}-trt{self.trt_version}"
            f"-{self.precision}-b{self.max_batch}-{w}x{h}.engine"
        )


def engine_key(spec: ModelSpec, precision: Precision, gpu_name: str, compute_capability: tuple[int, int], trt_version: str) -> EngineKey:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    return EngineKey(
        model_sha256(spec), gpu_name, compute_capability, trt_version, precision, spec.max_batch,
        (spec.input_width, spec.input_height),
    )


# --- CUDA (cuda-python) ---------------------------------------------------------------------------


def _cudart() -> Any:
    """cuda-python's runtime bindings: ``cuda.bindings.runtime`` (cuda-python >= 12.6), ``cuda.cudart`` before.

    The bindings are compiled without type information, so they are typed ``Any`` here.
    """
    try:
        from cuda.bindings import runtime
    except ImportError:
        from cuda import cudart as runtime
    return runtime


def _check(result: tuple[Any, ...]) -> Any:
    """cuda-python returns ``(error, *values)``: raise on an error, else return the value (or None)."""
    err, *values = result
    if int(err) != 0:  # cudaSuccess
        raise CudaError(f"CUDA call failed: {getattr(err, 'name', err)}")
    return values[0] if len(values) == 1 else None


@dataclass(frozen=True)
class Gpu:
    name: str
    compute_capability: tuple[int, int]


def gpu(device: int = 0) -> Gpu:
    props = _check(_cudart().cudaGetDeviceProperties(device))
    name = props.name
    if isinstance(name, bytes):
        name = name.split(b"\0", 1)[0].decode(errors="replace")
    return Gpu(str(name), (int(props.major), int(props.minor)))


# --- TensorRT --------------------------------------------------------------------------------------


def _dims(dims: trt.Dims) -> Shape:
    return tuple(int(dims[i]) for i in range(len(dims)))


@cache
def _trt_logger() -> trt.ILogger:
    """One logger for every builder and runtime (TensorRT needs it to outlive them), sent to ``logging``."""
    import tensorrt as trt

    severity = trt.ILogger.Severity
    levels = {
        severity.INTERNAL_ERROR: logging.CRITICAL, severity.ERROR: logging.ERROR, severity.WARNING: logging.WARNING,
        severity.INFO: logging.DEBUG, severity.VERBOSE: logging.DEBUG - 5,
    }

    class Logger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)

        def log(self, severity: trt.ILogger.Severity, msg: str) -> None:
            level = levels.get(severity, logging.INFO)
            if logger.isEnabledFor(level):
                logger.log(level, "TensorRT: %s", msg)

    return Logger()


def _progress_monitor(progress: BuildProgress, failures: list[BaseException]) -> trt.IProgressMonitor:
    """A ``trt.IProgressMonitor`` that calls ``progress``.

    An exception raised by ``progress`` (a KeyboardInterrupt arrives there too: during a build TensorRT
    runs Python only in these callbacks) is put in ``failures`` and cancels the build at the next step;
    ``build_engine`` raises it again.
    """
    import tensorrt as trt

    class Monitor(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self.phases: dict[str, tuple[str | None, int]] = {}

        def report(self, phase: str, done: int) -> None:
            parent, total = self.phases.get(phase, (None, 0))
            try:
                progress(phase, parent, done, total)
            except BaseException as exc:  # handed back to build_engine's caller
                failures.append(exc)

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            self.phases[phase_name] = (parent_phase, num_steps)
            self.report(phase_name, 0)

        def step_complete(self, phase_name: str, step: int) -> bool:
            self.report(phase_name, step + 1)
            return not failures

        def phase_finish(self, phase_name: str) -> None:
            self.report(phase_name, self.phases.get(phase_name, (None, 0))[1])

    return Monitor()


def engine_path(spec: ModelSpec, cache_dir: Path | str | None = None, precision: Precision = "fp16", device: int = 0) -> Path:
    """Where the engine for this model, GPU, TensorRT version and precision is (or would be) cached."""
    import tensorrt as trt

    found = gpu(device)
    key = engine_key(spec, precision, found.name, found.compute_capability, trt.__version__)
    return Path(cache_dir or default_cache_dir()) / key.filename()


def build_engine(
    spec: ModelSpec,
    cache_dir: Path | str | None = None,
    precision: Precision = "fp16",
    progress: BuildProgress | None = None,
    *,
    device: int = 0,
    workspace: int = DEFAULT_WORKSPACE,
    rebuild: bool = False,
) -> Path:
    """The cached engine's path, building it first when it is missing (or ``rebuild``).

    1. Parse the ONNX file into an explicit-batch network.
    2. Configure: workspace limit, FP16 unless ``precision="fp32"``, one optimisation profile for
       batches 1..spec.max_batch (``profile_shapes``), the progress monitor.
    3. Build and serialize, then write the engine under a temporary name and rename it into place, so
       a worker never reads a half-written engine (two workers building at once both succeed).
    """
    import tensorrt as trt

    _check(_cudart().cudaSetDevice(device))
    path = engine_path(spec, cache_dir, precision, device)
    if path.exists() and not rebuild:
        return path
    logger.info("building TensorRT engine %s (%s) from %s", path.name, precision, spec.onnx_path)
    started = time.monotonic()
    log = _trt_logger()
    builder = trt.Builder(log)
    network = builder.create_network(0)  # explicit batch: TensorRT 10's only mode
    parser = trt.OnnxParser(network, log)
    if not parser.parse_from_file(spec.onnx_path):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineBuildError(f"TensorRT could not parse {spec.onnx_path}: {errors}")

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace)
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    failures: list[BaseException] = []
    if progress is not None:
        config.progress_monitor = _progress_monitor(progress, failures)
    model_input = network.get_input(0)
    batch_dim = int(model_input.shape[0])
    profile = builder.create_optimization_profile()
    low, opt, high = profile_shapes(spec, batch_dim if batch_dim > 0 else None)
    profile.set_shape(model_input.name, trt.Dims(list(low)), trt.Dims(list(opt)), trt.Dims(list(high)))
    config.add_optimization_profile(profile)

    serialized = builder.build_serialized_network(network, config)
    if failures:
        raise failures[0]
    if serialized is None:
        raise EngineBuildError(f"TensorRT could not build an engine from {spec.onnx_path} (see the TensorRT log)")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    partial.write_bytes(bytes(serialized))
    os.replace(partial, path)
    logger.info("TensorRT engine built in %.0f s, written to %s", time.monotonic() - started, path)
    return path


def _numpy_dtype(dtype: trt.DataType) -> np.dtype[Any]:
    """Host dtype of an I/O tensor: float32, or float16 for an engine built with half-precision I/O."""
    import tensorrt as trt

    if dtype == trt.DataType.FLOAT:
        return np.dtype(np.float32)
    if dtype == trt.DataType.HALF:
        return np.dtype(np.float16)
    raise EngineBuildError(f"unsupported I/O tensor type {dtype}: the model contract is float32")


def _release(call: str, result: tuple[Any, ...]) -> None:
    try:
        _check(result)
    except CudaError as exc:
        logger.warning("%s while freeing TensorRT buffers: %s", call, exc)


def _pinned(shape: Shape, dtype: np.dtype[Any]) -> tuple[int, npt.NDArray[Any]]:
    """Page-locked host memory (so copies to and from the GPU run asynchronously) as a numpy array."""
    nbytes = int(np.prod(shape)) * dtype.itemsize
    ptr = int(_check(_cudart().cudaMallocHost(nbytes)))
    view = np.frombuffer(memoryview((ctypes.c_byte * nbytes).from_address(ptr)), dtype=dtype).reshape(shape)
    return ptr, view


class TensorRTDetector(Detector):
    """Runs the cached engine (built on first use) with device buffers sized for the largest batch.

    Not thread-safe: one execution context, one stream, one set of buffers. ``close()`` (or ``with``)
    frees the GPU memory.
    """

    name = "tensorrt"

    def __init__(
        self,
        spec: ModelSpec,
        precision: Precision = "fp16",
        cache_dir: Path | str | None = None,
        device: int = 0,
        workspace: int = DEFAULT_WORKSPACE,
        progress: BuildProgress | None = None,
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        self.precision, self.cache_dir, self.device = precision, cache_dir, device
        self.workspace, self.progress = workspace, progress
        self._device_buffers: list[int] = []
        self._host_buffers: list[int] = []
        self._stream: Any = None
        self.runtime: Any = None
        self.engine: Any = None
        self.context: Any = None
        try:
            super().__init__(spec)
        except BaseException:
            self.close()
            raise

    def load(self) -> None:
        import tensorrt as trt

        cudart = _cudart()
        self.runtime = runtime = trt.Runtime(_trt_logger())  # kept: it must outlive its engines
        path = build_engine(self.spec, self.cache_dir, self.precision, self.progress, device=self.device, workspace=self.workspace)
        engine = runtime.deserialize_cuda_engine(path.read_bytes())
        if engine is None:  # written by another TensorRT build that slipped past the key: build it again
            logger.warning("could not deserialize the cached engine %s; rebuilding it", path)
            path = build_engine(
                self.spec, self.cache_dir, self.precision, self.progress, device=self.device, workspace=self.workspace, rebuild=True
            )
            engine = runtime.deserialize_cuda_engine(path.read_bytes())
            if engine is None:
                raise EngineBuildError(f"TensorRT could not deserialize the engine it just built ({path})")
        self.engine = engine
        self.context = engine.create_execution_context()

        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if len(inputs) != 1 or len(outputs) != 1:
            raise EngineBuildError(f"expected one input and one output tensor, the engine has {inputs} and {outputs}")
        self.input_name, self.output_name = inputs[0], outputs[0]
        self.max_batch = int(engine.get_tensor_profile_shape(self.input_name, 0)[2][0])
        shape_in, shape_out = io_shapes(self.spec, self.max_batch)
        engine_out = _dims(engine.get_tensor_shape(self.output_name))
        if engine_out[1:] != shape_out[1:]:
            raise EngineBuildError(f"engine output {engine_out} does not match the model contract {shape_out}")

        self._stream = _check(cudart.cudaStreamCreate())
        self.input_dtype = _numpy_dtype(engine.get_tensor_dtype(self.input_name))
        self.output_dtype = _numpy_dtype(engine.get_tensor_dtype(self.output_name))
        self._host_in_ptr, self.host_in = _pinned(shape_in, self.input_dtype)
        self._host_buffers.append(self._host_in_ptr)
        self._host_out_ptr, self.host_out = _pinned(shape_out, self.output_dtype)
        self._host_buffers.append(self._host_out_ptr)
        self._device_in = int(_check(cudart.cudaMalloc(self.host_in.nbytes)))
        self._device_buffers.append(self._device_in)
        self._device_out = int(_check(cudart.cudaMalloc(self.host_out.nbytes)))
        self._device_buffers.append(self._device_out)
        # The buffers never move, so their addresses are set once; only the batch size changes per call.
        if not (self.context.set_tensor_address(self.input_name, self._device_in)
                and self.context.set_tensor_address(self.output_name, self._device_out)):
            raise EngineBuildError("TensorRT refused the device buffer addresses")

    def infer(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Copy in, run and copy out on the stream, wait once at the end."""
        if batch.shape[0] > self.max_batch:
            return np.concatenate([self.infer(batch[i : i + self.max_batch]) for i in range(0, batch.shape[0], self.max_batch)])
        cudart = _cudart()
        n = batch.shape[0]
        self.host_in[:n] = batch
        in_bytes = self.host_in[:n].nbytes
        out_bytes = self.host_out[:n].nbytes
        if not self.context.set_input_shape(self.input_name, (n, *batch.shape[1:])):
            raise ValueError(f"batch shape {batch.shape} is outside the engine's optimisation profile")
        kind = cudart.cudaMemcpyKind
        _check(cudart.cudaMemcpyAsync(self._device_in, self._host_in_ptr, in_bytes, kind.cudaMemcpyHostToDevice, self._stream))
        if not self.context.execute_async_v3(int(self._stream)):
            raise CudaError("TensorRT could not enqueue the inference")
        _check(cudart.cudaMemcpyAsync(self._host_out_ptr, self._device_out, out_bytes, kind.cudaMemcpyDeviceToHost, self._stream))
        _check(cudart.cudaStreamSynchronize(self._stream))
        return self.host_out[:n].astype(np.float32)  # a copy: the pinned buffer is reused by the next call

    def close(self) -> None:
        """Free the device and pinned buffers and the stream; the detector is unusable afterwards.

        Best effort: a failing free is logged and the rest are still freed.
        """
        if self._stream is not None:  # no copy may still be using the buffers
            _release("cudaStreamSynchronize", _cudart().cudaStreamSynchronize(self._stream))
        self.context = None  # in this order: a context before its engine, an engine before its runtime
        self.engine = None
        self.runtime = None
        if self._stream is None and not self._device_buffers and not self._host_buffers:
            return
        cudart = _cudart()
        self.host_in = self.host_out = np.empty((0,), np.float32)  # the views die before their memory
        while self._device_buffers:
            _release("cudaFree", cudart.cudaFree(self._device_buffers.pop()))
        while self._host_buffers:
            _release("cudaFreeHost", cudart.cudaFreeHost(self._host_buffers.pop()))
        if self._stream is not None:
            _release("cudaStreamDestroy", cudart.cudaStreamDestroy(self._stream))
            self._stream = None

    def __enter__(self) -> TensorRTDetector:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
