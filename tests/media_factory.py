"""Generate the images and videos tests need (the repo holds no binaries).

Videos are tiny and low frame rate so that even a 30 s clip encodes in well
under a second. Durations are exact: `frames / fps`.
"""

from __future__ import annotations

import struct
import zlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image


def make_image(
    path: Path,
    width: int = 512,
    height: int = 768,
    fmt: str | None = None,
    pad_to: int | None = None,
    mode: str = "RGB",
    exif_orientation: int | None = None,
) -> Path:
    """A PNG or JPEG (by `fmt` or the suffix) with a simple figure on it.

    `pad_to` appends bytes after the image data so the file is exactly that many
    bytes long (decoders ignore trailing data), to test size limits at their edge.
    `mode` "L" makes a big picture cheaply (one byte a pixel); `exif_orientation`
    (1-8) is stored in the EXIF block, as phone cameras do instead of rotating.
    """
    fmt = fmt or ("JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG")
    background: int | tuple[int, int, int] = (40, 90, 160) if mode == "RGB" else 90
    figure: int | tuple[int, int, int] = (230, 200, 170) if mode == "RGB" else 210
    img = Image.new(mode, (width, height), background)
    # a rough "character": a lighter block in the middle, so composites are visible
    img.paste(figure, (width // 3, height // 5, 2 * width // 3, 4 * height // 5))
    path.parent.mkdir(parents=True, exist_ok=True)
    extra: dict[str, bytes] = {}
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        extra["exif"] = exif.tobytes()
    img.save(path, format=fmt, **extra)
    if pad_to is not None:
        _pad(path, pad_to)
    return path


def make_black_png(path: Path, width: int, height: int, *, rows: int | None = None) -> Path:
    """A black 1-bit grayscale PNG of any declared size, written row by row: making it
    needs no picture in memory, and all-zero rows compress about 1000:1, so a
    20000×20000 PNG (Pillow decodes it into 400 MB) is a file of about 50 KB.

    `rows` writes only that many rows of pixel data under the full-size header,
    as a crafted decompression bomb does: a tiny file that declares a huge picture.
    """
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = bytes(1 + (width + 7) // 8)  # filter byte "none", then the packed bits
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        # bit depth 1, colour type 0 (grayscale), deflate, adaptive filtering, no interlace
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)))
        packer = zlib.compressobj(9)
        pending = b""
        for _ in range(height if rows is None else rows):
            pending += packer.compress(row)
            if len(pending) >= 1 << 20:
                f.write(chunk(b"IDAT", pending))
                pending = b""
        f.write(chunk(b"IDAT", pending + packer.flush()))
        f.write(chunk(b"IEND", b""))
    return path


def make_video(
    path: Path,
    width: int = 360,
    height: int = 640,
    seconds: float = 4.0,
    fps: int = 10,
    audio: bool = False,
    codec: str = "libx264",
    pad_to: int | None = None,
) -> Path:
    """An MP4/MOV (container from the suffix) with a moving bar, `seconds` long.

    Odd sizes are not possible in yuv420p; for those pass codec="png" (any size, MOV/MP4).
    `pad_to` appends an MP4 `free` box so the file is exactly that many bytes and still valid.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = round(seconds * fps)
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width = width
        stream.height = height
        if codec == "png":
            stream.pix_fmt = "rgb24"
        else:
            stream.pix_fmt = "yuv420p"
            stream.options = {"preset": "ultrafast"} if codec == "libx264" else {}
        astream = None
        if audio:
            astream = out.add_stream("aac", rate=16000)
            astream.layout = "mono"
        base = np.zeros((height, width, 3), dtype=np.uint8)
        base[:, :] = (20, 20, 20)
        for i in range(frames):
            arr = base.copy()
            x = int((i / max(frames - 1, 1)) * max(width - 20, 1))
            arr[:, x : x + 20] = (250, 250, 250)
            frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
        if astream is not None:
            samples = int(seconds * 16000)
            t = np.arange(samples) / 16000
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32).reshape(1, -1)
            chunk = 1024
            for start in range(0, samples, chunk):
                aframe = av.AudioFrame.from_ndarray(tone[:, start : start + chunk], format="fltp", layout="mono")
                aframe.sample_rate = 16000
                aframe.pts = start
                for packet in astream.encode(aframe):
                    out.mux(packet)
            for packet in astream.encode():
                out.mux(packet)
    if pad_to is not None:
        _pad_mp4(path, pad_to)
    return path


def truncate(path: Path, keep_fraction: float = 0.5) -> Path:
    """Cut a file short, as an interrupted upload would."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep_fraction)])
    return path


def _pad(path: Path, total: int) -> None:
    size = path.stat().st_size
    if size > total:
        raise ValueError(f"{path.name} is already {size} bytes, more than {total}")
    with path.open("ab") as f:
        f.truncate(total)


def _pad_mp4(path: Path, total: int) -> None:
    size = path.stat().st_size
    extra = total - size
    if extra < 8:
        raise ValueError(f"cannot pad {path.name} ({size} bytes) to {total}")
    with path.open("ab") as f:
        f.write(extra.to_bytes(4, "big") + b"free")
        f.truncate(total)


def faststart(path: Path) -> Path:
    """Rewrite an MP4/MOV in place with its index (moov) at the front, as phones
    and web exports do. Truncating such a file keeps a header that promises the
    full duration while the data stops early."""
    tmp = path.with_name(path.name + ".faststart" + path.suffix)
    with av.open(str(path)) as src, av.open(str(tmp), "w", options={"movflags": "faststart"}) as out:
        streams = {s.index: out.add_stream_from_template(s) for s in src.streams}
        for packet in src.demux():
            if packet.dts is None:
                continue  # demux ends with an empty flush packet
            packet.stream = streams[packet.stream.index]
            out.mux(packet)
    tmp.replace(path)
    return path
