"""Decoding for detection: only the frames ``detect_fps`` needs (DESIGN §9).

PyAV on the CPU. Frames that no other frame references are skipped by the decoder itself when
the sampling leaves room for it (``skip_frame="NONREF"``), so a 25 fps segment sampled at 5 fps
does not pay for full decoding of every B-frame. A sample falls on the first decoded frame at or
after its time, so skipping a frame moves a sample by at most one frame interval.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt


class CorruptSegment(Exception):
    """The file cannot be opened or decoded (zero length, truncated, not video)."""


@dataclass(frozen=True)
class SampledFrame:
    time: float  # seconds from the segment's first frame
    index: int  # decode order index of the frame in the segment
    image: npt.NDArray[np.uint8]  # H x W x 3 BGR


def sample_frames(path: Path | str, fps: float, size: tuple[int, int] | None = None) -> Iterator[SampledFrame]:
    """Yield about ``fps`` frames per second of the file, as BGR arrays (resized to ``size`` if given)."""
    if fps <= 0:
        raise ValueError("fps must be positive")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise CorruptSegment(f"{path}: {exc}") from None
    with container:
        if not container.streams.video:
            raise CorruptSegment(f"{path}: no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or stream.guessed_rate or 0)
        # Only when a sampling interval spans 3+ frames: then a skipped frame rarely empties one.
        if rate and rate / fps >= 3:
            stream.codec_context.skip_frame = "NONREF"
        interval, next_time, first = 1.0 / fps, 0.0, None
        width, height = size if size else (None, None)
        try:
            for index, frame in enumerate(container.decode(stream)):
                if frame.pts is None or frame.time_base is None:
                    continue
                t = float(frame.pts * frame.time_base)
                first = t if first is None else first
                t -= first
                if t + 1e-6 < next_time:
                    continue
                while next_time <= t + 1e-6:  # the slots this frame fills (or that passed without one)
                    next_time += interval
                image: npt.NDArray[np.uint8] = frame.to_ndarray(format="bgr24", width=width, height=height)  # type: ignore[assignment]
                yield SampledFrame(t, index, image)
        except av.FFmpegError as exc:
            raise CorruptSegment(f"{path}: {exc}") from None
        if first is None:
            raise CorruptSegment(f"{path}: no decodable frame")
