"""The detector interface every backend implements, and what it returns (DESIGN §9)."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from analytics.detectors.postprocess import Postprocess
from analytics.detectors.preprocess import Letterbox

Frame = npt.NDArray[np.uint8]  # H x W x 3, BGR


@dataclass(frozen=True)
class Detections:
    """One frame's detections: ``boxes`` (N, 4) x1, y1, x2, y2 in frame pixels; ``scores`` (N,); ``classes`` (N,)."""

    boxes: npt.NDArray[np.float32]
    scores: npt.NDArray[np.float32]
    classes: npt.NDArray[np.int32]

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0,), np.int32))


@dataclass(frozen=True)
class ModelSpec:
    """What a backend needs to know about a model (from controlplane's DetectorModel)."""

    onnx_path: str
    input_width: int
    input_height: int
    class_names: Sequence[str]
    sha256: str = ""
    score_threshold: float = 0.3  # the assets README's contract threshold
    iou_threshold: float = 0.45
    max_batch: int = 32
    extra: dict[str, str] = field(default_factory=dict)


class Detector(ABC):
    """Load once, warm up at construction, then ``detect(batch of frames)``.

    Subclasses implement ``infer`` (a float32 NCHW batch in, the raw network output out);
    pre- and post-processing are shared, so every backend gives the same detections for the
    same frames within the numeric tolerance of its arithmetic.
    """

    name = "base"

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.letterbox = Letterbox(spec.input_width, spec.input_height)
        self.postprocess = Postprocess(
            spec.input_width, spec.input_height, len(spec.class_names), spec.score_threshold, spec.iou_threshold
        )
        self.load()
        self.warm_up()

    @abstractmethod
    def load(self) -> None: ...

    @abstractmethod
    def infer(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """(N, 3, H, W) float32 -> (N, anchors, 5 + classes) float32."""

    def warm_up(self) -> None:
        self.infer(np.full((1, 3, self.spec.input_height, self.spec.input_width), 114, np.float32))

    def detect(self, frames: Sequence[Frame]) -> list[Detections]:
        if not frames:
            return []
        results: list[Detections] = []
        for start in range(0, len(frames), self.spec.max_batch):
            chunk = frames[start : start + self.spec.max_batch]
            batch, ratios = self.letterbox(chunk)
            raw = self.infer(batch)
            results.extend(
                self.postprocess(raw[i], ratios[i], (f.shape[1], f.shape[0])) for i, f in enumerate(chunk)
            )
        return results
