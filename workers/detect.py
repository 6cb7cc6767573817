"""Detection of one recorded segment (the `gpu` queue's task body; DESIGN §5, §9).

Decode the frames ``detect_fps`` needs, detect in batches, store the detections next to the
segment, then hand the segment to analysis. The model is loaded lazily, once per worker process,
inside the task (so never before a fork, and CUDA is initialised in the process that uses it).
"""
from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from django.conf import settings
from django.db.models import F

from analytics.config import DetectorModelConfig
from analytics.decode import CorruptSegment, sample_frames
from analytics.decode_nvdec import sample_frames_nvdec
from analytics.detectors import Detections, Detector, ModelSpec, create
from analytics.detectors.batching import BatchQueue
from analytics.detectors.store import SegmentDetections, detections_path, save
from analytics.detectors.torch_backend import TorchDetector
from controlplane.cameras.models import DetectState, Segment
from workers.config import CameraGone, camera_config, detector_model

logger = logging.getLogger(__name__)


class Frame(Protocol):
    """A sampled frame from either decoder (``SampledFrame``: numpy; ``GpuSampledFrame``: a tensor)."""

    @property
    def time(self) -> float: ...
    @property
    def index(self) -> int: ...
    @property
    def image(self) -> Any: ...


_detectors: dict[tuple[str, str], Detector] = {}
_queues: dict[tuple[str, str], BatchQueue[Any]] = {}
_lock = threading.Lock()


def detector_for(model: DetectorModelConfig) -> Detector:
    """The process's detector for a model, loaded on first use and kept (one per model and backend)."""
    cache_key = (settings.DETECTOR_BACKEND, model.sha256)
    with _lock:
        if cache_key not in _detectors:
            path = Path(model.onnx_path)
            if not path.is_absolute():
                path = Path(settings.STORAGE_ROOT) / "models" / path
            spec = ModelSpec(str(path), model.input_width, model.input_height, model.class_names, model.sha256,
                             max_batch=settings.DETECT_BATCH)
            logger.info("loading %s with %s", model.name, settings.DETECTOR_BACKEND)
            _detectors[cache_key] = create(settings.DETECTOR_BACKEND, spec)
        return _detectors[cache_key]


def detect_images(detector: Detector, images: list[Any]) -> list[Detections]:
    """One batch: numpy frames (PyAV) through ``detect``; GPU tensors (NVDEC, torch backend only)
    through ``detect_tensor``, one run of same-size frames at a time (several cameras share a batch)."""
    if not images or isinstance(images[0], np.ndarray):
        return detector.detect(images)
    import torch

    assert isinstance(detector, TorchDetector), "settings allow NVDEC with the torch backend only"
    results: list[Detections] = []
    for _, run in itertools.groupby(images, key=lambda image: tuple(image.shape)):
        results += detector.detect_tensor(torch.stack(list(run)))
    return results


def queue_for(model: DetectorModelConfig) -> BatchQueue[Any]:
    """The process's batch queue in front of the model's detector: every task thread feeds it, one
    thread runs the model (analytics.detectors.batching). Started on first use, so after any fork."""
    detector = detector_for(model)
    cache_key = (settings.DETECTOR_BACKEND, model.sha256)
    with _lock:
        if cache_key not in _queues:
            _queues[cache_key] = BatchQueue(lambda images: detect_images(detector, images), settings.DETECT_BATCH,
                                            settings.DETECT_BATCH_WAIT, name=model.name)
        return _queues[cache_key]


def detect_frames(frames: Iterator[Frame], queue: BatchQueue[Any], batch: int) -> tuple[list[Frame], list[Detections]]:
    """Decoded frames go to the queue ``batch`` at a time as they come, so the model works on the
    first ones while the rest are decoded; then wait for all of them."""
    sampled: list[Frame] = []
    futures = []
    for frame in frames:
        sampled.append(frame)
        if len(sampled) % batch == 0:
            futures.append(queue.submit([f.image for f in sampled[-batch:]]))
    if len(sampled) % batch:
        futures.append(queue.submit([f.image for f in sampled[-(len(sampled) % batch):]]))
    return sampled, [d for future in futures for d in future.result()]


def mark(segment_id: int, state: DetectState, error: str = "") -> None:
    Segment.objects.filter(pk=segment_id).update(detect_state=state, detect_error=error[:300])


def detect_segment(segment_id: int) -> str:
    """Detect one segment; returns what happened (done, bad, gone, skipped). Idempotent."""
    segment = Segment.objects.filter(pk=segment_id).first()
    if segment is None:
        return "gone"
    attempts = segment.detect_attempts + 1
    Segment.objects.filter(pk=segment_id).update(detect_attempts=F("detect_attempts") + 1)
    if attempts > settings.DETECT_MAX_ATTEMPTS:
        # A poison segment (it killed its worker every time) ends here, not in a redelivery loop.
        mark(segment_id, DetectState.BAD, f"gave up after {attempts - 1} deliveries")
        return "bad"
    try:
        _, camera = camera_config(segment.camera_id)
    except CameraGone:
        return "gone"
    model = detector_model(camera.detector_model_id)
    path = Path(settings.STORAGE_ROOT) / segment.path
    size = (camera.detect_width, camera.detect_height) if camera.detect_width and camera.detect_height else None
    try:
        sampled: Iterator[Frame] = (sample_frames_nvdec(path, camera.detect_fps, size) if settings.DECODER == "nvdec"
                                    else sample_frames(path, camera.detect_fps, size))
        frames, detections = detect_frames(sampled, queue_for(model), settings.DETECT_BATCH)
    except CorruptSegment as exc:
        logger.warning("segment %s is bad: %s", segment_id, exc)
        mark(segment_id, DetectState.BAD, str(exc))
        return "bad"
    height, width = (int(n) for n in frames[0].image.shape[:2])
    save(detections_path(path), SegmentDetections(
        times=np.asarray([f.time for f in frames]),
        frames=np.asarray([f.index for f in frames]),
        detections=detections, frame_size=(width, height), model=model.sha256,
    ))
    mark(segment_id, DetectState.DONE)
    announce_analysis(segment)
    return "done"


def announce_analysis(segment: Segment) -> None:
    from workers.celery import app

    app.send_task("panoptes.analyze_segment", args=[segment.pk], kwargs={"camera_id": segment.camera_id, "seq": segment.seq},
                  queue="analysis")
