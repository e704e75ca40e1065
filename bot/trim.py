"""Cut a video to its first N seconds with PyAV, copying packets where the frame structure allows.

Blocking (PyAV): callers run it in a worker thread (bot/fixes.py does). The source is only read.

A copy keeps every compressed frame as it was (no quality loss, and fast); it is possible when a
*clean cut* lands close enough before the cap (see `_copy_cut`). Otherwise the kept frames are
decoded and encoded again as H.264. Audio packets are copied in both cases, and a phone's
display rotation is kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av

# libx264 settings for a re-encoded trim: quality first; the clip is at most 30 s.
REENCODE_OPTIONS = {"preset": "veryfast", "crf": "18"}
# A copied trim may end at an earlier clean cut than asked for; losing more than this much of the
# motion the member asked to keep is worse than a re-encode (a GOP of 8 s would turn "the first
# 30 s" into 24 s), so past it the clip is re-encoded to the exact length instead.
COPY_MAX_SHORTFALL_SECONDS = 1.0

TrimMethod = Literal["copy", "encode"]


@dataclass(frozen=True)
class _Cut:
    video_packets: int  # keep this many video packets, in decode order
    end: float  # seconds after the first frame where the kept video ends


def trim_video(source: Path, dest: Path, seconds: float, min_seconds: float) -> TrimMethod:
    """Write the first `seconds` of `source` to `dest` (MP4 or MOV by dest's suffix), audio included.

    Copies packets when a clean cut lands between `min_seconds` and `seconds` and no more than
    COPY_MAX_SHORTFALL_SECONDS before `seconds`; else re-encodes.
    Raises av.error.FFmpegError when the source cannot be read.
    """
    fmt = "mov" if dest.suffix.lower() == ".mov" else "mp4"
    cut = _copy_cut(source, seconds, max(min_seconds, seconds - COPY_MAX_SHORTFALL_SECONDS))
    if cut is not None:
        _remux(source, dest, fmt, cut)
        return "copy"
    _reencode(source, dest, fmt, seconds)
    return "encode"


def _copy_cut(source: Path, seconds: float, shortest: float) -> _Cut | None:
    """The longest packet-copy prefix that is a clean cut and lasts between `shortest` and `seconds`.

    A prefix of the packets in decode order always decodes (frames only reference frames decoded
    before them). It is a *clean* cut when every frame it holds is shown before every frame it
    drops, so the clip has no missing frame: always right before a keyframe, and between frames
    too when the stream has no B-frames (phones' usual H.264). B-frames allow a cut only after
    each group of them.
    """
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        timing = [(p.pts, p.duration or 0) for p in container.demux(stream) if p.pts is not None and p.size]
        time_base = stream.time_base
    if not timing or time_base is None:
        return None
    start = min(pts for pts, _ in timing)
    smallest_after = [math.inf] * (len(timing) + 1)  # smallest pts among packets i.. (decode order)
    for i in range(len(timing) - 1, -1, -1):
        smallest_after[i] = min(timing[i][0], smallest_after[i + 1])
    best: _Cut | None = None
    largest, end = -math.inf, -math.inf
    for count, (pts, duration) in enumerate(timing, start=1):
        largest, end = max(largest, pts), max(end, pts + duration)
        length = float((end - start) * time_base)
        if length > seconds + 1e-9:
            break  # later prefixes only grow
        if largest < smallest_after[count] and length >= shortest:
            best = _Cut(video_packets=count, end=length)
    return best


def _remux(source: Path, dest: Path, fmt: str, cut: _Cut) -> None:
    with av.open(str(source)) as src, av.open(str(dest), "w", format=fmt) as out:
        vin = src.streams.video[0]
        ain = src.streams.audio[0] if src.streams.audio else None
        vout = out.add_stream_from_template(vin)  # codec parameters and rotation are carried over
        aout = out.add_stream_from_template(ain) if ain is not None else None
        video_start: float | None = None
        kept = 0
        for packet in src.demux(*(s for s in (vin, ain) if s is not None)):
            if packet.pts is None or not packet.size:
                continue
            if packet.stream is vin:
                if kept == cut.video_packets:
                    if aout is None:
                        break
                    continue
                kept += 1
                packet.stream = vout
                out.mux(packet)
            elif aout is not None:
                video_start = video_start if video_start is not None else _stream_start(vin)
                if float(packet.pts * packet.time_base) - video_start < cut.end:
                    packet.stream = aout
                    out.mux(packet)


def _stream_start(stream: av.video.stream.VideoStream) -> float:
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def _rotation(source: Path) -> int:
    """The display rotation a player applies (phones record sideways and say so in the file)."""
    with av.open(str(source)) as src:
        for frame in src.decode(video=0):
            return int(frame.rotation or 0)
    return 0


def _reencode(source: Path, dest: Path, fmt: str, seconds: float) -> None:
    """Decode the frames that end by `seconds` and encode them as H.264; audio packets are copied."""
    with av.open(str(source)) as src, av.open(str(dest), "w", format=fmt) as out:
        vin = src.streams.video[0]
        vin.thread_type = "AUTO"
        ain = src.streams.audio[0] if src.streams.audio else None
        rate = vin.average_rate or vin.guessed_rate or Fraction(30)
        vout = out.add_stream("libx264", rate=rate)
        # yuv420p needs even sides; an odd side loses its last pixel row or column.
        vout.width, vout.height = vin.codec_context.width // 2 * 2, vin.codec_context.height // 2 * 2
        vout.pix_fmt = "yuv420p"
        vout.codec_context.time_base = vin.time_base
        vout.options = dict(REENCODE_OPTIONS)
        aout = out.add_stream_from_template(ain) if ain is not None else None
        if rotation := _rotation(source):
            vout.set_display_rotation(rotation)  # before the first packet: the header carries it
        start = _stream_start(vin)
        frame_seconds = float(1 / rate)
        ended = False
        for packet in src.demux(*(s for s in (vin, ain) if s is not None)):
            if packet.stream is vin:
                if ended:
                    continue
                for frame in packet.decode():
                    if frame.pts is None or frame.time is None:
                        continue
                    offset = frame.time - start
                    if offset + frame_seconds > seconds + 1e-6:
                        ended = True
                        break
                    picture = frame.reformat(width=vout.width, height=vout.height, format="yuv420p")
                    picture.pts = frame.pts - (vin.start_time or 0)
                    picture.time_base = vin.time_base
                    out.mux(vout.encode(picture))
            elif aout is not None and packet.pts is not None and packet.size:
                if float(packet.pts * packet.time_base) - start < seconds:
                    packet.stream = aout
                    out.mux(packet)
        out.mux(vout.encode(None))
