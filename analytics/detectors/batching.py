"""One detector shared by every thread of a process, fed through a queue (DESIGN §9).

``BatchQueue.submit(frames)`` returns at once with a future; one thread runs the model on batches
of up to ``max_batch`` frames gathered from whatever is queued, so that

- frames of several segments (the gpu worker's threads each decoding one) share a batch: the model
  runs on full batches under load instead of one small batch per segment;
- a segment's decoding goes on while its earlier frames are in the model (the submitting thread
  keeps decoding), so decode and inference overlap instead of taking turns.

No timer by default: the batch thread takes what is queued when it is free, and while it runs the
next batch fills by itself ("continuous batching"). ``max_wait`` (seconds) makes it wait that long
for a fuller batch; worth it only on a GPU whose small batches are much dearer per frame.

A batch's frames must share one size when the detector needs it (``TorchDetector.detect_tensor``);
the letterbox of ``Detector.detect`` takes frames of any size. Plain threads and ``concurrent.futures``
(no asyncio: the callers are Celery's worker threads).
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from analytics.detectors.base import Detections

logger = logging.getLogger(__name__)

F = TypeVar("F")  # a frame: a numpy array, or a tensor already on the device


@dataclass
class _Request(Generic[F]):
    frames: Sequence[F]
    future: Future[list[Detections]]
    taken: int = 0  # frames handed to a batch so far
    results: list[Detections] = field(default_factory=list)


class BatchQueue(Generic[F]):
    def __init__(self, detect: Callable[[list[F]], list[Detections]], max_batch: int, max_wait: float = 0.0,
                 name: str = "detector") -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._detect = detect
        self.max_batch = max_batch
        self.max_wait = max_wait
        self._pending: deque[_Request[F]] = deque()
        self._queued = 0  # frames queued and not yet taken
        self._cond = threading.Condition()
        self._closed = False
        self.batches: list[int] = []  # sizes of the batches run (the latest 1,000), for benchmarks and tests
        self._thread = threading.Thread(target=self._run, name=f"batch-{name}", daemon=True)
        self._thread.start()

    def submit(self, frames: Sequence[F]) -> Future[list[Detections]]:
        """Detections of ``frames``, in order, when their batches have run."""
        future: Future[list[Detections]] = Future()
        if not frames:
            future.set_result([])
            return future
        with self._cond:
            if self._closed:
                raise RuntimeError("the batch queue is closed")
            self._pending.append(_Request(frames, future))
            self._queued += len(frames)
            self._cond.notify()
        return future

    def detect(self, frames: Sequence[F]) -> list[Detections]:
        """``submit`` and wait."""
        return self.submit(frames).result()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()

    def _take(self) -> list[tuple[_Request[F], int, int]] | None:
        """The next batch as (request, start, stop) slices, or None when closed and drained."""
        with self._cond:
            while not self._queued and not self._closed:
                self._cond.wait()
            if not self._queued:
                return None
            if self.max_wait and self._queued < self.max_batch:
                deadline = time.monotonic() + self.max_wait
                while self._queued < self.max_batch and not self._closed:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
            room, parts = self.max_batch, []
            for request in self._pending:  # oldest first; a request may span batches
                if room == 0:
                    break
                count = min(room, len(request.frames) - request.taken)
                if count:
                    parts.append((request, request.taken, request.taken + count))
                    request.taken += count
                    room -= count
            self._queued -= self.max_batch - room
            while self._pending and self._pending[0].taken == len(self._pending[0].frames):
                self._pending.popleft()  # fully taken; its future is settled below
            return parts

    def _run(self) -> None:
        while (parts := self._take()) is not None:
            frames: list[F] = [f for request, start, stop in parts for f in request.frames[start:stop]]
            self.batches = [*self.batches[-999:], len(frames)]
            try:
                detections = self._detect(frames)
            except BaseException as exc:  # noqa: BLE001 - handed to every caller of this batch
                logger.exception("detection of a batch of %d frames failed", len(frames))
                self._fail({id(request): request for request, _, _ in parts}.values(), exc)
                continue
            offset = 0
            for request, start, stop in parts:
                request.results.extend(detections[offset : offset + stop - start])
                offset += stop - start
                if len(request.results) == len(request.frames) and not request.future.done():
                    request.future.set_result(request.results)

    def _fail(self, requests: Any, exc: BaseException) -> None:
        with self._cond:
            for request in requests:
                if not request.future.done():
                    request.future.set_exception(exc)
                if request.taken < len(request.frames):  # the rest of it will not run either
                    self._queued -= len(request.frames) - request.taken
                    request.taken = len(request.frames)
            while self._pending and self._pending[0].taken == len(self._pending[0].frames):
                self._pending.popleft()
