"""ONNX Runtime backend: CPU everywhere (the default, and what tests use); CUDA/TensorRT execution
providers where onnxruntime-gpu provides them."""
from __future__ import annotations

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from analytics.detectors.base import Detector, ModelSpec


class OnnxRuntimeDetector(Detector):
    name = "onnxruntime"

    def __init__(self, spec: ModelSpec, providers: list[str] | None = None, threads: int = 0) -> None:
        self.providers = providers or ["CPUExecutionProvider"]
        self.threads = threads  # 0: ONNX Runtime's default (one per core)
        super().__init__(spec)

    def load(self) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        available = set(ort.get_available_providers())
        providers = [p for p in self.providers if p in available] or ["CPUExecutionProvider"]
        self.session = ort.InferenceSession(self.spec.onnx_path, sess_options=options, providers=providers)
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        # A static batch of 1 (yolox_nano.onnx) is run frame by frame; a symbolic batch takes them all.
        batch_dim = model_input.shape[0]
        self.fixed_batch = batch_dim if isinstance(batch_dim, int) else None

    def infer(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        if self.fixed_batch == 1 and batch.shape[0] > 1:
            return np.concatenate([self.infer(batch[i : i + 1]) for i in range(batch.shape[0])])
        out: npt.NDArray[np.float32] = self.session.run(None, {self.input_name: batch})[0]
        return out
