"""Media checks, stage 2 for videos: the real bytes on disk, read with PyAV.

`check_video` checks the container, the stream, the sides, the real duration (from the
packets, not the header) and that the first frame decodes. Synchronous and CPU-bound:
callers run it in a thread. The limits, the refusal type and the sentence helpers live
in bot/media.py, shared with the metadata prechecks.
"""

from __future__ import annotations

from pathlib import Path

import av

from bot.i18n import Text
from bot.limits import KLING_MOTION_LIMITS, SECONDS_TOLERANCE, MotionLimits
from bot.media import (
    MediaRejected,
    VideoInfo,
    _check_bytes,
    _check_extension,
    _check_sides,
    _limit,
    _num,
)

# PyAV's name for the demuxer that reads the whole QuickTime/ISO-BMFF family.
MOV_FAMILY = "mov,mp4,m4a,3gp,3g2,mj2"

# Box types that can open a QuickTime/MP4 file. We sniff these before handing
# the file to FFmpeg so that "not an MP4 at all" and "a damaged MP4" get
# different, accurate sentences.
_MOV_FIRST_BOXES = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot"})

# A cut-off upload loses seconds, not milliseconds; this slack keeps honest files
# whose header and packet timings disagree by a frame or two (edit lists,
# rounding) from being called damaged.
_DAMAGE_SLACK_SECONDS = 0.5

# Proving the codec works needs one decoded frame; a broken stream must not
# make us decode the whole file looking for it.
_FIRST_FRAME_MAX_PACKETS = 64


def check_video(path: Path, filename: str, orientation: str, limits: MotionLimits = KLING_MOTION_LIMITS) -> VideoInfo:
    """Check a video on disk: container, stream, sides, real duration, and that
    the first frame decodes. Never reads the whole file into memory."""
    if orientation not in ("image", "video"):
        raise MediaRejected("options", Text("orientation must be image or video; got {orientation}", orientation=repr(orientation)))
    _check_extension("video", filename, limits.video_extensions)
    size = path.stat().st_size
    _check_bytes("video", size, limits.video_max_bytes)

    with path.open("rb") as f:
        head = f.read(12)
        if len(head) < 8 or head[4:8] not in _MOV_FIRST_BOXES:
            raise MediaRejected("video", Text("video is not an MP4/MOV video (its contents are some other kind of file)"))
        f.seek(0)
        # An old QuickTime file has no ftyp box; a modern one says "qt  ".
        container_name = "mov" if head[4:8] != b"ftyp" or head[8:12] == b"qt  " else "mp4"
        try:
            # Forcing the mov demuxer (rather than letting FFmpeg guess) keeps
            # other demuxers, such as playlists that open further files, out of
            # reach; reading through our file object keeps FFmpeg's protocols out too.
            with av.open(f, format="mov") as container:
                info = _inspect_video(container, container_name, size, limits)
        except MediaRejected:
            raise
        except Exception:
            # Typically "moov atom not found": an upload cut off before the index.
            raise MediaRejected("video", Text("video is damaged or incomplete (it could not be read); upload it again")) from None

    _check_duration(info.seconds, orientation, limits)
    return info


def _inspect_video(container: av.container.InputContainer, container_name: str, size: int, limits: MotionLimits) -> VideoInfo:
    # PyAV names the demuxer as it was asked for ("mov" here, since we force
    # it) or by its full name when FFmpeg guessed; either must be of the family.
    if container.format.name not in (MOV_FAMILY, *MOV_FAMILY.split(",")):
        raise MediaRejected("video", Text("video is not an MP4/MOV video"))
    if not container.streams.video:
        raise MediaRejected("video", Text("video has no video track"))
    stream = container.streams.video[0]
    ctx = stream.codec_context
    _check_sides("video", ctx.width, ctx.height, limits.video_min_side, limits.video_max_side)

    first_pts: int | None = None
    end_pts: int | None = None
    fed = 0
    decoded = False
    for packet in container.demux(stream):
        if packet.pts is None or packet.size == 0:
            continue  # demux ends with an empty flush packet
        # B-frames arrive out of presentation order, hence min/max.
        first_pts = packet.pts if first_pts is None else min(first_pts, packet.pts)
        end = packet.pts + (packet.duration or 0)
        end_pts = end if end_pts is None else max(end_pts, end)
        if not decoded and fed < _FIRST_FRAME_MAX_PACKETS:
            fed += 1
            decoded = bool(ctx.decode(packet))
    if not decoded and fed:
        # Decoders with delay (threads, B-frames) hold frames until flushed.
        decoded = bool(ctx.decode(None))
    if first_pts is None or end_pts is None or stream.time_base is None:
        raise MediaRejected("video", Text("video is damaged or incomplete (it has no frames); upload it again"))
    if not decoded:
        raise MediaRejected(
            "video", Text("video could not be decoded (codec {codec}); re-export it as an H.264 MP4 and try again", codec=ctx.name)
        )

    seconds = float((end_pts - first_pts) * stream.time_base)
    # The header's duration comes from the index at the start or end of the
    # file; if the packets stop well short of it, the data was cut off.
    if stream.duration:
        header_seconds = float(stream.duration * stream.time_base)
        if seconds < header_seconds - _DAMAGE_SLACK_SECONDS:
            raise MediaRejected(
                "video",
                Text(
                    "video is damaged or incomplete: its data ends at {data_seconds} s but its header says "
                    "{header_seconds} s; upload it again",
                    data_seconds=f"{seconds:.1f}", header_seconds=f"{header_seconds:.1f}",
                ),
            )
    rate = stream.average_rate
    return VideoInfo(
        container=container_name,
        codec=ctx.name,
        width=ctx.width,
        height=ctx.height,
        seconds=seconds,
        fps=float(rate) if rate else None,
        has_audio=bool(container.streams.audio),
        size=size,
    )


def _check_duration(seconds: float, orientation: str, limits: MotionLimits) -> None:
    low = limits.video_min_seconds
    if seconds < low - SECONDS_TOLERANCE:
        raise MediaRejected("video", Text("video is {seconds} s; the minimum is {minimum} s", seconds=_num(seconds, low), minimum=_limit(low)))
    high = limits.video_max_for(orientation)
    if seconds > high + SECONDS_TOLERANCE:
        if orientation == "image" and seconds <= limits.video_max_seconds + SECONDS_TOLERANCE:
            advice = Text("use orientation=video or trim it")
        else:
            advice = Text("trim it")
        raise MediaRejected(
            "video",
            Text(
                "video is {seconds} s; with orientation={orientation} the limit is {limit} s — {advice}",
                seconds=_num(seconds, high), orientation=orientation, limit=_limit(high), advice=advice,
            ),
        )
