"""Detection of one recorded segment (the `gpu` queue's task body; DESIGN §5, §9).

Decode the frames ``detect_fps`` needs, detect in batches, store the detections next to the
segment, then hand the segment to analysis. The model is loaded lazily, once per worker process,
inside the task (so never before a fork, and CUDA is initialised in the process that uses it).
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db.models import F

from analytics.config import DetectorModelConfig
from analytics.decode import CorruptSegment, sample_frames
from analytics.detectors import Detector, ModelSpec, create
from analytics.detectors.store import SegmentDetections, detections_path, save
from controlplane.cameras.models import DetectState, Segment
from workers.config import CameraGone, camera_config, detector_model

logger = logging.getLogger(__name__)

_detectors: dict[tuple[str, str], Detector] = {}
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
        frames = list(sample_frames(path, camera.detect_fps, size))
    except CorruptSegment as exc:
        logger.warning("segment %s is bad: %s", segment_id, exc)
        mark(segment_id, DetectState.BAD, str(exc))
        return "bad"
    detections = detector_for(model).detect([f.image for f in frames])
    height, width = frames[0].image.shape[:2]
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
