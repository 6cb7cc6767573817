"""A camera's latest picture: the capture loop keeps its latest keyframe, the API decodes it on demand.

Decoding a keyframe in the capture loop for every refresh was the largest cost of capture after the
demux itself (a 1080p IDR decode plus a JPEG every 10 s: ~0.3 % of a core per camera, a third of the
worker's CPU; bench/RESULTS.md). Saving the keyframe's packet costs a file write and no decode, so
the loop does only that, every ``PANOPTES_SNAPSHOT_SECONDS``; the picture is decoded when someone
asks for it (the API, the zone editor) and the JPEG is kept until a newer keyframe arrives.

The keyframe file (``snapshots/live/<camera>.key``, written atomically) holds what a decoder needs:
``PKF1``, a 4-byte big-endian header length, a JSON header (codec name, picture size, extradata
length, capture time), the codec extradata (SPS/PPS), then the packet. A small format of our own:
a container (a one-packet MP4 or MKV) would cost a muxer set-up per refresh in the capture loop.
"""
from __future__ import annotations

import json
import logging
import os
import struct
import time
from pathlib import Path

import av
import cv2
from av.video.codeccontext import VideoCodecContext

from workers.storage import keyframe_path, snapshot_path, write_atomically

logger = logging.getLogger(__name__)

MAGIC = b"PKF1"
SNAPSHOT_WIDTH = 640  # pictures are at most this wide: a panel thumbnail, a zone editor's backdrop


class SnapshotUnavailable(Exception):
    """No picture can be made: nothing was recorded yet, or the stored keyframe does not decode."""


def save_keyframe(camera_id: int, codec: VideoCodecContext, packet: av.packet.Packet) -> None:
    """Keep a keyframe of the camera's stream for its picture (no decoding here)."""
    extradata = codec.extradata or b""
    header = json.dumps({"codec": codec.name, "width": codec.width, "height": codec.height,
                         "extradata": len(extradata), "time": time.time()}).encode()
    write_atomically(keyframe_path(camera_id), b"".join((MAGIC, struct.pack(">I", len(header)), header, extradata,
                                                         bytes(packet))))


def decode_keyframe(data: bytes, width: int = SNAPSHOT_WIDTH) -> bytes:
    """A keyframe file's picture as a JPEG at most ``width`` wide."""
    if data[:4] != MAGIC or len(data) < 8:
        raise SnapshotUnavailable("not a keyframe file")
    (size,) = struct.unpack(">I", data[4:8])
    try:
        header = json.loads(data[8 : 8 + size])
        start = 8 + size + int(header["extradata"])
        decoder = av.CodecContext.create(str(header["codec"]), "r")
    except (ValueError, KeyError, TypeError, av.FFmpegError) as exc:
        raise SnapshotUnavailable(f"unreadable keyframe file: {exc}") from None
    if not isinstance(decoder, VideoCodecContext):
        raise SnapshotUnavailable(f"not a video codec: {header['codec']}")
    decoder.extradata = data[8 + size : start] or None
    decoder.thread_count = 1
    decoder.flags |= av.codec.context.Flags.low_delay
    try:
        frames = decoder.decode(av.Packet(data[start:])) + decoder.decode(None)
    except av.FFmpegError as exc:
        raise SnapshotUnavailable(f"the keyframe does not decode: {exc}") from None
    if not frames:
        raise SnapshotUnavailable("the keyframe gave no picture")
    frame = frames[0]
    out_width = min(width, frame.width)
    out_height = max(2, round(frame.height * out_width / frame.width / 2) * 2)
    picture = frame.reformat(width=out_width, height=out_height, format="bgr24").to_ndarray()
    ok, jpeg = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise SnapshotUnavailable("JPEG encoding failed")
    return bytes(jpeg.tobytes())


def latest_picture(camera_id: int) -> Path:
    """The camera's latest picture as a JPEG file, decoded now if its keyframe is newer than the JPEG.

    Concurrent callers may both decode; each writes the same picture atomically. The JPEG takes the
    keyframe's modification time, so "newer" is exact.
    """
    jpeg, key = snapshot_path(camera_id), keyframe_path(camera_id)
    try:
        key_mtime = key.stat().st_mtime_ns
    except FileNotFoundError:
        if jpeg.exists():  # a picture from before this format, or the keyframe was cleaned away
            return jpeg
        raise SnapshotUnavailable("no picture yet: the camera has not been recorded") from None
    try:
        if jpeg.stat().st_mtime_ns == key_mtime:
            return jpeg
    except FileNotFoundError:
        pass
    try:
        data = key.read_bytes()
    except FileNotFoundError:  # replaced between stat and read: the next request sees the new one
        raise SnapshotUnavailable("the picture is being refreshed; try again") from None
    write_atomically(jpeg, decode_keyframe(data))
    os.utime(jpeg, ns=(key_mtime, key_mtime))
    return jpeg
