#!/usr/bin/python3
"""A real RTSP server that serves recorded footage like a camera that never stops.

Used by the RTSP test fixtures, the benchmarks and the quick start's demo mode (through
``tests.rtsp.RtspServer``). Run it with the *system* python3, which has the GStreamer bindings:

    /usr/bin/python3 tests/rtsp/server.py --port 8554 --media onebyone=/abs/one-by-one.mp4

Each ``--media NAME=PATH`` is served at ``rtsp://ADDRESS:PORT/NAME`` as H.264 over RTP (TCP or
UDP, as the client asks). Once listening it prints one line ``READY <port>`` on stdout (``--port 0``
picks a free port). SIGTERM or SIGINT close the clients and end it with status 0.

How it works, and why:
1. At start each file is demuxed once into memory (``load_clip``): its H.264 access units with
   their timestamps. No decoding or encoding, ever: the bitstream goes out as it is in the file
   (4 MB of footage costs 4 MB of memory). Every frame is served, also the few that an MP4 edit
   list hides from players (the first 7 of person-bicycle-car-detection.mp4).
2. Each client gets its own small pipeline ``appsrc ! rtph264pay``, so that every client starts
   at the clip's first frame, a key frame, at once: tests can count on what they see when. A shared
   pipeline (``--shared``) costs less CPU with many clients (measured with 50 clients: 1.5 % of a
   core instead of 9.5 %) but makes a late joiner wait for the next key frame, up to a GOP: 25 s
   with vtest.avi.
3. The appsrc is live and fed by ``ClipFeeder`` a second of access units at a time; the sink's
   clock paces them out in real time. After the last access unit it starts again at the first (a key frame)
   with every timestamp shifted by the clip's length, so a client sees one unbroken stream whose
   timestamps keep increasing by one frame interval across the loop, for as long as it stays.
   We loop in our own code rather than with segment seeks on a demuxer because the real files
   defeat those: the MP4 edit list of person-bicycle-car-detection.mp4 gives its first 7 frames
   one and the same RTP timestamp, and H.264 in AVI (vtest.avi) has no presentation timestamps.
4. Streams without presentation timestamps (AVI) get them from the pictures' order counts
   (``display_ranks``), which is how a decoder orders them too.
"""
from __future__ import annotations

import argparse
import itertools
import signal
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

# Debian packages, named in errors (tests.rtsp.RtspServer passes these on).
PACKAGES = {
    "python": "python3-gi gir1.2-gst-rtsp-server-1.0",
    "appsrc": "gstreamer1.0-plugins-base",
    "qtdemux": "gstreamer1.0-plugins-good",
    "avidemux": "gstreamer1.0-plugins-good",
    "matroskademux": "gstreamer1.0-plugins-good",
    "rtph264pay": "gstreamer1.0-plugins-good",
    "rtpbin": "gstreamer1.0-plugins-good",
    "h264parse": "gstreamer1.0-plugins-bad",
}
try:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstApp", "1.0")
    gi.require_version("GstRtsp", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstApp, GstRtsp, GstRtspServer
except (ImportError, ValueError) as exc:  # ValueError: "Namespace GstRtspServer not available"
    sys.exit(f"missing GStreamer Python bindings ({exc}): apt-get install {PACKAGES['python']}")

DEMUXERS = {".mp4": "qtdemux", ".mov": "qtdemux", ".m4v": "qtdemux", ".avi": "avidemux", ".mkv": "matroskademux"}
NONE = Gst.CLOCK_TIME_NONE


@dataclass
class Frame:
    """One H.264 access unit; ``pts``/``dts`` in ns from the clip's first decode time."""

    buffer: Gst.Buffer
    pts: int
    dts: int


@dataclass
class Clip:
    caps: Gst.Caps
    frames: list[Frame]  # decode order, starting with a key frame
    length: int  # ns from the first frame shown to the end of the last one: the loop's period


def load_clip(path: Path, loop_after: float | None = None) -> Clip:
    """Demux the first video track of ``path`` into memory (optionally only its first seconds)."""
    demuxer = DEMUXERS.get(path.suffix.lower())
    if demuxer is None:
        raise SystemExit(f"{path}: unsupported container (known: {', '.join(DEMUXERS)})")
    require_elements(demuxer, "h264parse", "appsrc", "rtph264pay", "rtpbin")
    # Stream-format avc keeps SPS/PPS in the caps' codec_data, from which rtph264pay repeats them
    # before every key frame (config-interval=-1), so a client can start at any loop.
    pipeline = Gst.parse_launch(
        f'filesrc location="{path}" ! {demuxer} name=demux demux.video_0 ! h264parse '
        "! capsfilter name=au caps=video/x-h264,stream-format=avc,alignment=au ! fakesink sync=false"
    )
    buffers: list[Gst.Buffer] = []
    pad = pipeline.get_by_name("au").get_static_pad("src")

    # A probe, not an appsink: a sink would drop the frames before an edit list's start, and the
    # first of them is the key frame the rest depend on.
    def keep(_pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
        buffers.append(info.get_buffer())
        return Gst.PadProbeReturn.OK

    pad.add_probe(Gst.PadProbeType.BUFFER, keep)
    pipeline.set_state(Gst.State.PLAYING)
    message = pipeline.get_bus().timed_pop_filtered(30 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    caps = pad.get_current_caps()
    pipeline.set_state(Gst.State.NULL)
    if message is None or message.type == Gst.MessageType.ERROR or not buffers:
        detail = message.parse_error()[0].message if message and message.type == Gst.MessageType.ERROR else "no video"
        raise SystemExit(f"{path}: cannot read H.264 video ({detail})")

    interval = frame_interval(caps, buffers)
    if any(b.pts == NONE for b in buffers):  # H.264 in AVI: derive them from the bitstream
        ranks = display_ranks(caps, buffers)
        delay = max(0, max(i - rank for i, rank in enumerate(ranks)))
        pts = [(rank + delay) * interval for rank in ranks]
        dts = [i * interval for i in range(len(buffers))]
    else:
        pts = [b.pts for b in buffers]
        dts = [b.pts if b.dts == NONE else b.dts for b in buffers]
    start = dts[0]
    frames = [Frame(b, p - start, d - start) for b, p, d in zip(buffers, pts, dts, strict=True)]
    if loop_after is not None:
        # Cut in decode order before the first frame to be shown after the cut: every frame kept
        # then has its references kept, so the loop decodes cleanly even mid-GOP.
        first_shown = min(f.pts for f in frames)
        cut = next((i for i, f in enumerate(frames) if f.pts - first_shown >= loop_after * Gst.SECOND), len(frames))
        frames = frames[: max(cut, 1)]
    length = max(f.pts for f in frames) - min(f.pts for f in frames) + interval
    return Clip(caps, frames, length)


def require_elements(*names: str) -> None:
    missing = [name for name in names if Gst.ElementFactory.find(name) is None]
    if missing:
        packages = " ".join(sorted({PACKAGES[name] for name in missing}))
        raise SystemExit(f"missing GStreamer elements {', '.join(missing)}: apt-get install {packages}")


def frame_interval(caps: Gst.Caps, buffers: list[Gst.Buffer]) -> int:
    ok, num, den = caps.get_structure(0).get_fraction("framerate")
    if ok and num > 0:
        return Gst.util_uint64_scale_int(Gst.SECOND, den, num)
    durations = [b.duration for b in buffers if b.duration != NONE]
    if durations:
        return int(statistics.median(durations))
    dts = [b.dts for b in buffers if b.dts != NONE]
    return int(statistics.median(b - a for a, b in itertools.pairwise(dts)))


# --- H.264 picture order (ITU-T H.264 7.3 and 8.2.1.1), for streams without presentation times --


class _Bits:
    """Big-endian bit reader with Exp-Golomb codes, enough for SPS and slice headers."""

    def __init__(self, rbsp: bytes) -> None:
        self.value, self.left = int.from_bytes(rbsp, "big"), len(rbsp) * 8

    def u(self, n: int) -> int:
        self.left -= n
        return (self.value >> self.left) & ((1 << n) - 1)

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


def _rbsp(nal: bytes) -> _Bits:
    """The NAL unit's payload without its header and emulation-prevention bytes."""
    return _Bits(nal[1:].replace(b"\x00\x00\x03", b"\x00\x00"))


@dataclass
class _Sps:
    separate_colour_plane: int
    log2_max_frame_num: int
    poc_type: int
    log2_max_poc_lsb: int
    frame_mbs_only: int


def _parse_sps(nal: bytes) -> _Sps:
    r = _rbsp(nal)
    profile = r.u(8)
    r.u(16)  # constraint flags, level
    r.ue()  # seq_parameter_set_id
    separate = 0
    if profile in (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135):
        chroma_format = r.ue()
        if chroma_format == 3:
            separate = r.u(1)
        r.ue(), r.ue(), r.u(1)  # bit depths, qpprime_y_zero_transform_bypass
        if r.u(1):  # scaling matrices: skip them
            for i in range(12 if chroma_format == 3 else 8):
                if r.u(1):
                    last = nxt = 8
                    for _ in range(16 if i < 6 else 64):
                        if nxt:
                            nxt = (last + r.se()) % 256
                        last = nxt or last
    log2_max_frame_num = r.ue() + 4
    poc_type = r.ue()
    log2_max_poc_lsb = r.ue() + 4 if poc_type == 0 else 0
    if poc_type == 1:
        raise SystemExit("H.264 picture order count type 1 without container timestamps is not supported")
    r.ue(), r.u(1), r.ue(), r.ue()  # max_num_ref_frames, gaps, width and height in macroblocks
    return _Sps(separate, log2_max_frame_num, poc_type, log2_max_poc_lsb, r.u(1))


def _nal_units(data: bytes, length_size: int) -> list[bytes]:
    units, i = [], 0
    while i + length_size <= len(data):
        size = int.from_bytes(data[i : i + length_size], "big")
        units.append(data[i + length_size : i + length_size + size])
        i += length_size + size
    return units


def display_ranks(caps: Gst.Caps, buffers: list[Gst.Buffer]) -> list[int]:
    """Display position of each access unit (given in decode order), from its picture order count.

    1. Read the SPS from the avcC codec_data (NAL length size, POC type, field sizes).
    2. Per access unit, read pic_order_cnt_lsb from its first slice header and extend it to a POC
       (8.2.1.1: the MSB wraps relative to the previous reference picture; an IDR starts again).
    3. Sort by (IDR period, POC): that is the order a decoder shows them in.
    """
    codec_data = caps.get_structure(0).get_value("codec_data")
    avcc = codec_data.extract_dup(0, codec_data.get_size())
    length_size = (avcc[4] & 3) + 1
    sps = _parse_sps(avcc[8 : 8 + int.from_bytes(avcc[6:8], "big")])
    if sps.poc_type == 2:  # output order is decode order
        return list(range(len(buffers)))
    max_lsb = 1 << sps.log2_max_poc_lsb
    keys, period, prev_msb, prev_lsb = [], -1, 0, 0
    for i, buffer in enumerate(buffers):
        nal = next(n for n in _nal_units(buffer.extract_dup(0, buffer.get_size()), length_size) if n[0] & 0x1F in (1, 5))
        idr, reference = nal[0] & 0x1F == 5, nal[0] >> 5
        r = _rbsp(nal[:64])
        r.ue(), r.ue(), r.ue()  # first_mb_in_slice, slice_type, pic_parameter_set_id
        if sps.separate_colour_plane:
            r.u(2)  # colour_plane_id
        r.u(sps.log2_max_frame_num)  # frame_num
        if not sps.frame_mbs_only and r.u(1):  # field_pic_flag, then bottom_field_flag
            r.u(1)
        if idr:
            r.ue()  # idr_pic_id
            period, prev_msb, prev_lsb = period + 1, 0, 0
        lsb = r.u(sps.log2_max_poc_lsb)
        if lsb < prev_lsb and prev_lsb - lsb >= max_lsb // 2:
            msb = prev_msb + max_lsb
        elif lsb > prev_lsb and lsb - prev_lsb > max_lsb // 2:
            msb = prev_msb - max_lsb
        else:
            msb = prev_msb
        if reference:
            prev_msb, prev_lsb = msb, lsb
        keys.append((period, msb + lsb, i))
    ranks = [0] * len(buffers)
    for rank, (_, _, i) in enumerate(sorted(keys)):
        ranks[i] = rank
    return ranks


# --- Serving -------------------------------------------------------------------------------------


class ClipFeeder:
    """Feeds one client's live appsrc with a clip, looping forever on one continuous timeline."""

    # Frames handed over per call, in stream time. The appsrc still sends them one by one, each at
    # its time; batching only saves Python calls: 50 clients cost 9.5 % of a core instead of 16 %.
    BATCH = Gst.SECOND

    def __init__(self, clip: Clip) -> None:
        self.clip = clip
        self.index = 0
        self.offset: int | None = None  # running time of the current loop's start

    def need_data(self, appsrc: GstApp.AppSrc, _length: int) -> None:
        """Called in the appsrc's streaming thread when its queue runs empty: queue the next second."""
        if self.offset is None:  # start the timeline now, in the pipeline's running time
            clock = appsrc.get_clock()
            self.offset = clock.get_time() - appsrc.get_base_time() if clock else 0
        until = self.offset + self.clip.frames[self.index].dts + self.BATCH
        while self.offset + self.clip.frames[self.index].dts < until:
            frame = self.clip.frames[self.index]
            flags = Gst.BufferCopyFlags  # a new buffer around the same bytes: nothing is copied
            buffer = frame.buffer.copy_region(flags.FLAGS | flags.META | flags.MEMORY, 0, frame.buffer.get_size())
            buffer.pts, buffer.dts = self.offset + frame.pts, self.offset + frame.dts
            appsrc.push_buffer(buffer)  # a method call: cheaper than emitting the push-buffer signal
            self.index += 1
            if self.index == len(self.clip.frames):  # loop: the next frame is the first, one period on
                self.index, self.offset = 0, self.offset + self.clip.length


class ClipFactory(GstRtspServer.RTSPMediaFactory):
    def __init__(self, clip: Clip, shared: bool) -> None:
        super().__init__()
        self.clip = clip
        self.set_shared(shared)  # see --shared
        self.set_launch("( appsrc name=src is-live=true format=time ! rtph264pay name=pay0 pt=96 config-interval=-1 )")
        self.connect("media-configure", self._configure)

    def _configure(self, _factory: GstRtspServer.RTSPMediaFactory, media: GstRtspServer.RTSPMedia) -> None:
        appsrc = media.get_element().get_by_name("src")
        appsrc.set_property("caps", self.clip.caps)
        appsrc.connect("need-data", ClipFeeder(self.clip).need_data)


def add_auth(server: GstRtspServer.RTSPServer, user: str, password: str) -> None:
    """Require this user with Digest authentication, as IP cameras do; anyone else gets 401."""
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "camera-user")
    auth.add_digest(user, password, token)
    # One method only: PyGObject cannot pass BASIC | DIGEST (the C API's enum is used as flags).
    auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
    server.set_auth(auth)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8554, help="0 picks a free port (printed on READY)")
    parser.add_argument("--address", default="127.0.0.1", help="0.0.0.0 to serve other hosts")
    parser.add_argument("--media", action="append", required=True, metavar="NAME=PATH")
    parser.add_argument("--loop-after", type=float, metavar="SECONDS", help="serve only the first SECONDS of each file")
    parser.add_argument(
        "--shared",
        action="store_true",
        help="one pipeline per stream for all its clients: less CPU with many clients, but a client "
        "joining late starts mid-stream and waits for the next key frame",
    )
    parser.add_argument("--user")
    parser.add_argument("--password")
    args = parser.parse_args(argv)
    if (args.user is None) != (args.password is None):
        parser.error("--user and --password go together")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    Gst.init(None)
    server = GstRtspServer.RTSPServer(address=args.address, service=str(args.port))
    server.set_backlog(128)  # the default 5 drops SYNs when a benchmark opens 50 clients at once
    if args.user is not None:
        add_auth(server, args.user, args.password)
    for spec in args.media:
        name, sep, path = spec.partition("=")
        if not sep or not name or "/" in name:
            raise SystemExit(f"--media wants NAME=PATH, got {spec!r}")
        factory = ClipFactory(load_clip(Path(path), args.loop_after), args.shared)
        if args.user is not None:
            factory.add_role_from_structure(
                Gst.Structure.new_from_string("camera-user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true")
            )
        server.get_mount_points().add_factory(f"/{name}", factory)
    if server.attach(None) == 0:
        raise SystemExit(f"cannot listen on {args.address}:{args.port}")
    print(f"READY {server.get_bound_port()}", flush=True)

    loop = GLib.MainLoop()

    def stop() -> bool:
        # Close the clients first: their media pipelines then stop before the loop does, and
        # the process exits at once instead of hanging in teardown.
        server.client_filter(lambda _server, _client: GstRtspServer.RTSPFilterResult.REMOVE)
        loop.quit()
        return GLib.SOURCE_REMOVE

    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, stop)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
