"""Object detectors behind one small interface (DESIGN §9): ``create(backend, spec).detect(frames)``.

Backends: ``onnxruntime`` (CPU; CUDA/TensorRT providers when installed), ``tensorrt`` (GPU hosts),
``torch`` (the ONNX model converted to PyTorch, FP16 on CUDA). Each is imported only when asked for,
so a host needs only the libraries of the backend it runs.
"""
from __future__ import annotations

from typing import Any

from analytics.detectors.base import Detections, Detector, ModelSpec

__all__ = ["Detections", "Detector", "ModelSpec", "create", "BACKENDS"]

BACKENDS = ("onnxruntime", "tensorrt", "torch")


def create(backend: str, spec: ModelSpec, **options: Any) -> Detector:
    if backend == "onnxruntime":
        from analytics.detectors.onnx import OnnxRuntimeDetector

        return OnnxRuntimeDetector(spec, **options)
    if backend == "tensorrt":
        from analytics.detectors.tensorrt import TensorRTDetector

        return TensorRTDetector(spec, **options)
    if backend == "torch":
        from analytics.detectors.torch_backend import TorchDetector

        return TorchDetector(spec, **options)
    raise ValueError(f"unknown detector backend {backend!r}; choose one of {', '.join(BACKENDS)}")
