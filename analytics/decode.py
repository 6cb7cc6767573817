"""Decoding for detection: only the frames ``detect_fps`` needs (DESIGN §9).

PyAV on the CPU. Frames that no other frame references are skipped by the decoder itself when
the sampling leaves room for it (``skip_frame="NONREF"``), so a 25 fps segment sampled at 5 fps
does not pay for full decoding of every B-frame. A sample falls on the first decoded frame at or
after its time, so skipping a frame moves a sample by at most one frame interval.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
from av.container import InputContainer
from av.video.stream import VideoStream

from analytics.sampling import SampleClock


class CorruptSegment(Exception):
    """The file cannot be opened or decoded (zero length, truncated, not video)."""


@dataclass(frozen=True)
class SampledFrame:
    time: float  # seconds from the segment's first frame
    index: int  # decode order index of the frame in the segment
    image: npt.NDArray[np.uint8]  # H x W x 3 BGR


@contextmanager
def open_video(path: Path | str) -> Iterator[tuple[InputContainer, VideoStream]]:
    """The file's container and first video stream; CorruptSegment if it has none or cannot be opened."""
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise CorruptSegment(f"{path}: {exc}") from None
    with container:
        if not container.streams.video:
            raise CorruptSegment(f"{path}: no video stream")
        yield container, container.streams.video[0]


def sample_frames(path: Path | str, fps: float, size: tuple[int, int] | None = None) -> Iterator[SampledFrame]:
    """Yield about ``fps`` frames per second of the file, as BGR arrays (resized to ``size`` if given)."""
    clock = SampleClock(fps)  # raises on fps <= 0 before the file is opened
    with open_video(path) as (container, stream):
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or stream.guessed_rate or 0)
        # Only when a sampling interval spans 3+ frames: then a skipped frame rarely empties one.
        if rate and rate / fps >= 3:
            stream.codec_context.skip_frame = "NONREF"
        width, height = size if size else (None, None)
        try:
            for index, frame in enumerate(container.decode(stream)):
                if frame.pts is None or frame.time_base is None:
                    continue
                t = clock.take(float(frame.pts * frame.time_base))
                if t is None:
                    continue
                image: npt.NDArray[np.uint8] = frame.to_ndarray(format="bgr24", width=width, height=height)  # type: ignore[assignment]
                yield SampledFrame(t, index, image)
        except av.FFmpegError as exc:
            raise CorruptSegment(f"{path}: {exc}") from None
        if not clock.started:
            raise CorruptSegment(f"{path}: no decodable frame")
