"""PyTorch backend (DESIGN §9): the ONNX model converted with onnx2torch, FP16 on CUDA, FP32 on CPU.

For GPU hosts that have PyTorch but no TensorRT. torch and onnx2torch are imported when a detector
is made, so this module imports on hosts without them (``analytics`` is imported whole by the type
checks). ``letterbox_tensor`` and ``TorchDetector.detect_tensor`` take frames that are already on the
GPU (NVDEC's, ``analytics.decode_nvdec``, stacked by its ``stack_images``) and keep them there until the
network's output.
"""
from __future__ import annotations

import logging
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from analytics.detectors.base import Detections, Detector, ModelSpec
from analytics.detectors.preprocess import PAD_VALUE

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)


class _Unavailable(types.ModuleType):
    """Stands in for torchvision while onnx2torch is imported; any use of it raises."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # module machinery (inspect, pickle) asks for __file__ and such
            raise AttributeError(name)

        def unavailable(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError(f"this model needs torchvision.{name}, and torchvision cannot be imported on this host")

        return unavailable


@contextmanager
def _torchvision_or_stand_in() -> Iterator[None]:
    """onnx2torch imports torchvision at import time, only for its NonMaxSuppression and RoiAlign
    converters (YOLOX uses neither). PyPI's torchvision wheels are CUDA builds that fail to import
    beside a CPU build of torch ("operator torchvision::nms does not exist", as on the CI machines),
    so when torchvision cannot be imported, an empty stand-in is in ``sys.modules`` while onnx2torch is
    imported, and removed right after: nothing else sees it, and a model that needs either op fails
    loudly when it runs."""
    try:
        import torchvision  # noqa: F401
    except Exception as exc:  # ImportError when absent; RuntimeError from a CUDA build beside CPU torch
        logger.debug("torchvision cannot be imported (%s); onnx2torch gets a stand-in", exc)
    else:
        yield
        return
    package, ops = _Unavailable("torchvision"), _Unavailable("torchvision.ops")
    package.ops = ops  # type: ignore[attr-defined]
    stand_ins = {"torchvision": package, "torchvision.ops": ops}
    saved = {name: sys.modules.get(name) for name in stand_ins}
    sys.modules.update(stand_ins)
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def import_onnx2torch() -> Any:
    """The onnx2torch module (see ``_torchvision_or_stand_in`` for hosts without a working torchvision)."""
    if "onnx2torch" in sys.modules:
        return sys.modules["onnx2torch"]
    with _torchvision_or_stand_in():
        import onnx2torch
    return onnx2torch


def static_batch(onnx_path: str) -> int | None:
    """The batch size the ONNX model was exported with, or None when it is symbolic."""
    import onnx  # installed with onnx2torch

    model = onnx.load(onnx_path, load_external_data=False)
    dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    return int(dim.dim_value) if dim.HasField("dim_value") else None


def letterbox_tensor(frames: torch.Tensor, width: int, height: int) -> tuple[torch.Tensor, float]:
    """The shared letterbox (``preprocess.Letterbox``) on frames already on the device.

    ``frames``: (N, H, W, 3) uint8 BGR, all of one size (one camera's decoded frames). Returns the
    (N, 3, height, width) float32 batch and the ratio. Bilinear resizing rounded to uint8 values, like
    OpenCV's INTER_LINEAR (within 1 grey level of it).
    """
    import torch

    n, h, w, _ = frames.shape
    r = min(height / h, width / w)
    nw, nh = int(w * r), int(h * r)
    chw = frames.permute(0, 3, 1, 2).float()
    if (nw, nh) != (w, h):
        chw = torch.nn.functional.interpolate(chw, size=(nh, nw), mode="bilinear", align_corners=False)
        chw = chw.round_().clamp_(0, 255)
    batch = torch.full((n, 3, height, width), float(PAD_VALUE), dtype=torch.float32, device=frames.device)
    batch[:, :, :nh, :nw] = chw
    return batch, r


class TorchDetector(Detector):
    """``device="cuda"`` in FP16 by default; on a host without CUDA it runs FP32 on the CPU.

    ``half``: None (default) FP16 on CUDA and FP32 on a CPU; True FP16 wherever it runs (on a CPU
    slowly: to check FP16 arithmetic's detections where no GPU is at hand); False FP32."""

    name = "torch"

    def __init__(self, spec: ModelSpec, device: str = "cuda", half: bool | None = None) -> None:
        import torch

        if device.startswith("cuda") and not torch.cuda.is_available():
            logger.info("CUDA is not available: the torch detector runs on the CPU in FP32")
            device = "cpu"
        self.device = torch.device(device)
        # FP16 convolutions are slow on CPUs: FP32 there unless FP16 is asked for by name.
        self.half = self.device.type == "cuda" if half is None else half
        super().__init__(spec)

    def load(self) -> None:
        model = import_onnx2torch().convert(self.spec.onnx_path)
        self.model: torch.nn.Module = model.eval().to(self.device)
        if self.half:
            self.model.half()
        # A model exported with a fixed batch of 1 (yolox_nano.onnx) silently mixes the frames of a
        # larger batch together (its Reshape is [1, 85, -1]): it is run frame by frame.
        self.fixed_batch = static_batch(self.spec.onnx_path)

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) float on the device -> (N, anchors, 5 + classes) float32, still on the device."""
        import torch

        if self.fixed_batch is not None and batch.shape[0] != self.fixed_batch:
            size = self.fixed_batch
            return torch.cat([self.forward(batch[i : i + size]) for i in range(0, batch.shape[0], size)])
        with torch.inference_mode():
            out: torch.Tensor = self.model(batch.half() if self.half else batch.float())
            return out.float()

    def infer(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        import torch

        tensor = torch.from_numpy(batch).to(self.device, non_blocking=True)
        out: npt.NDArray[np.float32] = self.forward(tensor).cpu().numpy()
        return out

    def detect_tensor(self, frames: torch.Tensor) -> list[Detections]:
        """``detect`` for frames already on the device ((N, H, W, 3) uint8 BGR, one size): only the
        network's output comes back to the host, for the shared post-processing."""
        if frames.shape[0] == 0:
            return []
        h, w = int(frames.shape[1]), int(frames.shape[2])
        results: list[Detections] = []
        for start in range(0, frames.shape[0], self.spec.max_batch):
            batch, ratio = letterbox_tensor(frames[start : start + self.spec.max_batch], self.spec.input_width, self.spec.input_height)
            raw = self.forward(batch).cpu().numpy()
            results.extend(self.postprocess(raw[i], ratio, (w, h)) for i in range(raw.shape[0]))
        return results
