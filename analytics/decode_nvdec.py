"""Decoding for detection on GPU hosts: NVDEC through PyNvVideoCodec (DESIGN §9).

The same sampling as ``analytics.decode.sample_frames`` (``analytics.sampling``: the first decoded
frame at or after each 1/fps slot, times from the first frame, decode output ``index``), but every
sampled frame stays on the GPU: NVDEC decodes to NV12 in device memory, and only the sampled frames
are converted (NV12 -> BGR, resized) by torch on the GPU, ready for ``TorchDetector.detect_tensor``.

Targets PyNvVideoCodec 2.2.4 (the PyPI wheel, pinned in docker/requirements-gpu.txt). Every call below
was checked against that wheel: the pybind11 signatures of its ``_PyNvVideoCodec`` module
(``CreateDecoder(gpuid, codec, cudacontext, cudastream, usedevicememory, ..., outputColorType, ...)``,
``PacketData`` with ``bsl_data``/``bsl``/``pts``, ``PyNvDecoder.Decode(PacketData) ->
list[DecodedFrame]``, ``DecodedFrame.getPTS()``/``format``/``__dlpack__(stream)``, ``Pixel_Format``,
``PyNvVCExceptionUnsupported``), its samples (samples/advanced/decode.py: demux, ``Decode`` per
packet, an empty packet flushes; samples/advanced/simple_decode_from_memory.py: an NV12 frame is one
(height * 3 / 2, width) uint8 buffer), and the C++ behind it in NVIDIA's PyNvVideoCodec 2.x source
(NvDecoder.cpp, PyNvDecoder.cpp, ExternalBuffer.cpp: ``Decode`` reuses its output buffers on the
next call; a packet's ``pts`` comes back as the timestamp of the picture it carried; output copies
run on the decoder's CUDA stream, 0 meaning the legacy default stream; ``__dlpack__(stream)`` makes
the consumer's stream wait for the frame; an empty packet means end of stream).
It has not run on a GPU yet: tests/test_decode_nvdec.py runs it where CUDA and PyNvVideoCodec exist.

How:
1. PyAV demuxes (the same packets, timestamps, edit lists and discard flags the PyAV path sees), and
   ``h264_mp4toannexb``/``hevc_mp4toannexb`` turn MP4 packets into the Annex B NVDEC's parser reads.
2. Each packet goes to ``Decode`` by pointer (no copy), with its pts; frames come back in display
   order with that pts. Frames of packets the container marks discard (before an MP4 edit list's
   start) are dropped, as libavcodec drops them, so indices and times match the PyAV path.
3. Only sampled frames are touched: ``torch.from_dlpack`` (zero copy) and ``nv12_to_bgr``, on the
   CUDA stream the decoder writes on (the caller's current stream), so the conversion is ordered
   before the next ``Decode`` reuses the buffer, with no host synchronisation. PyNvVideoCodec still
   copies every decoded frame out of NVDEC's surface (1080p NV12: 3.1 MB, ~1-2 us at H100 bandwidth):
   its API has no per-frame opt-out short of seeking.

Colour: BT.601 limited range unless the stream says BT.709 or BT.2020 and/or full range, which is
what PyAV's ``to_ndarray(format="bgr24")`` picks too (swscale, the frame's colour space, limited
range when unspecified). Chroma is upsampled by nearest neighbour like swscale's unscaled
yuv420p->bgr24 path. On the shared footage the result is within 3 grey levels of PyAV's, 0.7-1.0 on
average (swscale's integer tables round down; this is the exact matrix); resized frames (bilinear,
antialiased) within 1.4 levels on average and 7 at the 99th percentile, more on a few sharp edges,
where the two resamplers differ (tests/test_decode_nvdec.py holds both).

torch and PyNvVideoCodec are imported when called, so ``analytics`` imports on hosts without them.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
from av.bitstream import BitStreamFilterContext

from analytics.decode import CorruptSegment, open_video
from analytics.sampling import SampleClock

if TYPE_CHECKING:
    import torch
    from av.container import InputContainer
    from av.video.stream import VideoStream

# PyAV codec names -> PyNvVideoCodec.cudaVideoCodec members: what cameras send and NVDEC decodes.
# (MPEG-4 part 2 is left out: NVIDIA's demuxer prepends its extradata to the first packet, not done here.)
NVDEC_CODECS = {"h264": "H264", "hevc": "HEVC", "av1": "AV1", "vp9": "VP9"}
# MP4/MKV carry H.264/HEVC length-prefixed; NVDEC's parser wants start codes (Annex B). The filter
# passes Annex B input (AVI, MPEG-TS) through unchanged.
ANNEX_B_FILTERS = {"h264": "h264_mp4toannexb", "hevc": "hevc_mp4toannexb"}
# The pts handed to NVDEC for a packet without one (FFmpeg's AV_NOPTS_VALUE): its frame comes back
# with it and is skipped like PyAV skips frames whose pts is None.
NO_PTS = -(2**63)
# FFmpeg's AVColorSpace / AVColorRange values (libavutil/pixfmt.h), as PyAV reports them.
AVCOL_SPC_BT709, AVCOL_SPC_BT2020_NCL, AVCOL_SPC_BT2020_CL = 1, 9, 10
AVCOL_RANGE_JPEG = 2


@dataclass(frozen=True)
class YuvMatrix:
    """Y'CbCr -> R'G'B' for one colour space (luma weights ``kr``, ``kb``) and range."""

    name: str
    kr: float
    kb: float
    full_range: bool = False

    @classmethod
    def for_stream(cls, colorspace: int, color_range: int, pix_fmt: str = "") -> YuvMatrix:
        """What the stream signals; BT.601 when it signals nothing (or something else), limited
        range unless it says full (or is a ``yuvj*`` format), as swscale assumes."""
        full = color_range == AVCOL_RANGE_JPEG or pix_fmt.startswith("yuvj")
        if colorspace == AVCOL_SPC_BT709:
            return cls("bt709", 0.2126, 0.0722, full)
        if colorspace in (AVCOL_SPC_BT2020_NCL, AVCOL_SPC_BT2020_CL):
            return cls("bt2020", 0.2627, 0.0593, full)
        return cls("bt601", 0.299, 0.114, full)

    def coefficients(self) -> tuple[float, float, float, float, float, float]:
        """(luma scale, luma offset, Cr->R, Cb->G, Cr->G, Cb->B) for 8-bit codes: R = s*(Y - o) + ..."""
        kg = 1.0 - self.kr - self.kb
        luma, offset, chroma = (1.0, 0.0, 1.0) if self.full_range else (255 / 219, 16.0, 255 / 224)
        return (
            luma, offset,
            chroma * 2 * (1 - self.kr),
            -chroma * 2 * self.kb * (1 - self.kb) / kg,
            -chroma * 2 * self.kr * (1 - self.kr) / kg,
            chroma * 2 * (1 - self.kb),
        )


BT601 = YuvMatrix("bt601", 0.299, 0.114)


@dataclass(frozen=True)
class GpuSampledFrame:
    time: float  # seconds from the segment's first frame
    index: int  # decode output index of the frame in the segment
    image: torch.Tensor  # H x W x 3 uint8 BGR, on the GPU that decoded it


def nv12_to_bgr(nv12: torch.Tensor, matrix: YuvMatrix = BT601, size: tuple[int, int] | None = None) -> torch.Tensor:
    """One NV12 frame ((height * 3 / 2, width) uint8: the Y plane, then interleaved U, V rows) ->
    (height, width, 3) uint8 BGR on the same device, resized to ``size`` = (width, height) if given.

    1. Chroma to the output size: nearest neighbour at the frame's own size (each U, V pair covers
       2x2 pixels, as in swscale's unscaled conversion), bilinear with antialiasing when resizing;
       the Y plane likewise, so a resize costs one pass instead of converting then resizing.
    2. The matrix in float32, rounded and clamped to 0-255.
    """
    import torch
    from torch.nn.functional import interpolate

    rows, width = int(nv12.shape[0]), int(nv12.shape[1])
    height = rows * 2 // 3  # rows = height + ceil(height / 2)
    out_w, out_h = size if size else (width, height)
    y = nv12[:height].float()[None, None]
    uv = nv12[height:, : width // 2 * 2].reshape(rows - height, width // 2, 2).permute(2, 0, 1).float()[None]
    if (out_w, out_h) == (width, height):
        uv = uv.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)[:, :, :height, :width]
    else:
        y = interpolate(y, size=(out_h, out_w), mode="bilinear", align_corners=False, antialias=True)
        uv = interpolate(uv, size=(out_h, out_w), mode="bilinear", align_corners=False, antialias=True)
    luma, offset, r_v, g_u, g_v, b_u = matrix.coefficients()
    y = (y[0, 0] - offset) * luma
    u, v = uv[0, 0] - 128.0, uv[0, 1] - 128.0
    bgr = torch.stack((y + b_u * u, y + g_u * u + g_v * v, y + r_v * v), dim=-1)
    return bgr.round_().clamp_(0, 255).to(torch.uint8)


def stack_images(frames: Sequence[GpuSampledFrame]) -> torch.Tensor:
    """The frames' images as one (N, H, W, 3) uint8 batch, as ``TorchDetector.detect_tensor`` takes it."""
    import torch

    return torch.stack([f.image for f in frames])


def _annex_b_packets(container: InputContainer, stream: VideoStream) -> Iterator[av.Packet[Any]]:
    name = stream.codec_context.name
    annex_b = BitStreamFilterContext(ANNEX_B_FILTERS[name], stream) if name in ANNEX_B_FILTERS else None
    for packet in container.demux(stream):
        if packet.size == 0:  # PyAV's end-of-stream packet: the decoder is flushed by the caller
            continue
        yield from (annex_b.filter(packet) if annex_b else (packet,))
    if annex_b:
        yield from annex_b.filter(None)


def _nvdec_frames(container: InputContainer, stream: VideoStream, path: Path | str, gpu_id: int, cuda_stream: int) -> Iterator[tuple[float | None, Any]]:
    """(time in seconds or None, PyNvVideoCodec DecodedFrame) for every frame, in display order.

    A DecodedFrame's buffer is valid until the next ``Decode`` call, i.e. until the frames of the
    same packet have all been yielded and the next one is asked for."""
    import PyNvVideoCodec as nvc

    name = stream.codec_context.name
    if name not in NVDEC_CODECS:
        raise CorruptSegment(f"{path}: {name} is not decoded by NVDEC here ({', '.join(NVDEC_CODECS)} are)")
    time_base = stream.time_base
    if time_base is None:
        raise CorruptSegment(f"{path}: the video stream has no time base")
    discarded: set[int] = set()

    def output(frames: list[Any]) -> Iterator[tuple[float | None, Any]]:
        for frame in frames:
            pts = frame.getPTS()
            if pts in discarded:
                discarded.discard(pts)
                continue
            yield (None if pts == NO_PTS else float(pts * time_base)), frame

    try:
        # cudacontext=0: the GPU's primary context, the one torch uses. cudastream: the caller's
        # current torch stream (0, the legacy default stream, is NVDEC's "no stream" too).
        decoder = nvc.CreateDecoder(gpuid=gpu_id, codec=getattr(nvc.cudaVideoCodec, NVDEC_CODECS[name]), cudacontext=0,
                                    cudastream=cuda_stream, usedevicememory=True, outputColorType=nvc.OutputColorType.NATIVE)
        for packet in _annex_b_packets(container, stream):
            data = nvc.PacketData()
            data.bsl_data = packet.buffer_ptr  # read by Decode before it returns; ``packet`` lives till then
            data.bsl = packet.buffer_size
            data.pts = NO_PTS if packet.pts is None else packet.pts
            if packet.is_discard:
                discarded.add(data.pts)
            yield from output(decoder.Decode(data))
        yield from output(decoder.Decode(nvc.PacketData()))  # an empty packet: end of stream, the rest comes out
    except av.FFmpegError as exc:
        raise CorruptSegment(f"{path}: {exc}") from None
    except nvc.PyNvVCExceptionUnsupported as exc:  # a profile, size or format this GPU's NVDEC cannot decode
        raise CorruptSegment(f"{path}: NVDEC cannot decode it: {exc}") from None


def decode_nvdec(path: Path | str, gpu_id: int = 0) -> Iterator[tuple[float | None, Any]]:
    """Every frame of the file, decoded by NVDEC and left as it comes (NV12 in device memory): the
    decode-only cost of ``sample_frames_nvdec`` (bench/detect_gpu.py measures it)."""
    with open_video(path) as (container, stream):
        import torch

        yield from _nvdec_frames(container, stream, path, gpu_id, torch.cuda.current_stream(gpu_id).cuda_stream)


def sample_frames_nvdec(path: Path | str, fps: float, size: tuple[int, int] | None = None, gpu_id: int = 0) -> Iterator[GpuSampledFrame]:
    """Yield about ``fps`` frames per second of the file as (H, W, 3) uint8 BGR CUDA tensors on GPU
    ``gpu_id`` (resized to ``size`` = (width, height) if given), sampled like ``analytics.decode``.

    The tensors are made on the CUDA stream current when the iteration starts; use them there (or
    synchronise). Raises ``CorruptSegment`` for a file that cannot be opened or decoded."""
    clock = SampleClock(fps)
    with open_video(path) as (container, stream):  # first, so a bad file fails alike on any host
        import PyNvVideoCodec as nvc
        import torch
        from torch.utils.dlpack import from_dlpack

        cuda_stream = torch.cuda.current_stream(gpu_id)
        context = stream.codec_context
        matrix = YuvMatrix.for_stream(context.colorspace, context.color_range, context.format.name if context.format else "")
        for index, (time, frame) in enumerate(_nvdec_frames(container, stream, path, gpu_id, cuda_stream.cuda_stream)):
            if time is None:
                continue
            t = clock.take(time)
            if t is None:
                continue
            if frame.format != nvc.Pixel_Format.NV12:
                raise CorruptSegment(f"{path}: NVDEC gives {frame.format.name} frames; only 8-bit 4:2:0 (NV12) is converted")
            with torch.cuda.device(gpu_id), torch.cuda.stream(cuda_stream):
                image = nv12_to_bgr(from_dlpack(frame), matrix, size)  # zero copy: the decoder's buffer
            yield GpuSampledFrame(t, index, image)
    if not clock.started:
        raise CorruptSegment(f"{path}: no decodable frame")
