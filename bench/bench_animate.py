"""How long /animate's checks, brush files and preview take on a large picture, and the simulator.

Part 1, the work between a member's upload and the preview (issue 11's goal: under 0.5 s and
150 MB for a 4096×4096 picture with six moving areas and 77-point paths): every check, GoAPI's
colour-indexed PNG written to disk, and the preview picture; then, separately, Kling's seven
per-area masks, which are cut from that PNG when a job is sent to Kling (not while the member
waits). Beside them, a floor measured in the same run: decoding the 4096×4096 brush PNG and
encoding it again, which any handling of such a file costs. Each case runs in a fresh process; memory is that process's
peak RSS (VmHWM) minus its RSS just before the case started (after imports), so it counts what
the case allocated, Pillow's C buffers included (tracemalloc would miss those). CPU time is the
process's own (time.process_time), which a busy shared machine inflates less than wall time.

Part 2, the simulator's image-to-video render: seconds of work per second of output, beside a
floor from the same run: the same number of frames of the unchanged still through the same
encoder (libx264 veryfast), which any render of that size costs.

    .venv/bin/python bench/bench_animate.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SIDE = 4096

MAKE_INPUTS = """
import sys
sys.path.insert(0, {repo!r})
from pathlib import Path
from PIL import Image, ImageDraw
from bot.animate.brush import MOVING, STATIC
root, side = Path({root!r}), {side}
picture = Image.radial_gradient("L").resize((side, side)).convert("RGB")
ImageDraw.Draw(picture).rectangle((side // 3, side // 5, 2 * side // 3, 4 * side // 5), fill=(230, 200, 170))
picture.save(root / "picture.jpg", quality=90)
picture.save(root / "picture.png")
brush = Image.new("RGBA", (side, side), (0, 0, 0, 0))
draw = ImageDraw.Draw(brush)
draw.rectangle((0, side * 3 // 4, side - 1, side - 1), fill=STATIC.rgb + (255,))
step = side // 6
for i, colour in enumerate(MOVING):
    draw.ellipse((i * step + step // 8, side // 8, (i + 1) * step - step // 8, side // 2), fill=colour.rgb + (255,))
brush.save(root / "brush.png")
painted = picture.copy()
painted.paste(brush, (0, 0), brush)
painted.save(root / "painted.png")
paths = []
for i, colour in enumerate(MOVING):
    x0, y0 = i * step + step // 2, side // 4
    points = [(x0 + (k * 7) % 200, y0 + k * (side // 2) // 76) for k in range(77)]
    paths.append(colour.name + ": " + " ".join(f"{{x}},{{y}}" for x, y in points))
(root / "paths.txt").write_text("; ".join(paths))
"""

CASE = """
import json, sys, time
sys.path.insert(0, {repo!r})
from pathlib import Path
import io
from PIL import Image
from bot.animate.models import AnimateOptions
from bot.animate.plan import AnimateInputs, plan_animate
from bot.animate.preview import render_preview
from bot.models import MediaFile

def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) / 1024
root = Path({root!r})
def media(p):
    return MediaFile(path=p, filename=p.name, content_type="image/png", size=p.stat().st_size)
before = rss("VmRSS")
start, cpu_start = time.perf_counter(), time.process_time()
case = {case!r}
if case == "floor":
    with Image.open(root / "brush.png") as img:
        img.load()
        img.save(io.BytesIO(), format="PNG")
    parts = {{}}
elif case == "kling masks":
    from bot.animate.masks import kling_masks
    masks = kling_masks(root / "brush.png")  # what the Kling adapter does when it sends the job
    assert len(masks) == 7
    parts = {{}}
else:
    inputs = AnimateInputs(
        image=media(root / {picture!r}), brush=media(root / {brush!r}),
        options=AnimateOptions(paths=(root / "paths.txt").read_text()),
    )
    plan = plan_animate(inputs, "kling", root / ("job-" + case), public_url=True)
    planned = time.perf_counter()
    render_preview(
        inputs.image.path, brush_index=plan.brush.index, paths=plan.request.paths,
        header="kling-v1 · std · 5 s", caption=("Make it: 5 credits",),
    ).image.save(root / ("preview-" + case + ".png"))
    parts = {{"checks and brush files": planned - start, "preview": time.perf_counter() - planned}}
elapsed = time.perf_counter() - start
print(json.dumps({{"elapsed": elapsed, "cpu": time.process_time() - cpu_start, "parts": parts, "peak_mib": rss("VmHWM") - before}}))
"""

RENDER_FLOOR = """
import json, sys, time
sys.path.insert(0, {repo!r})
from fractions import Fraction
import av
from PIL import Image
from bot.providers.simulator_render import output_size
from tests.animate_factory import example_picture
w, h = output_size(1536, 1024, {side})
still = example_picture().resize((w, h))
start, cpu_start = time.perf_counter(), time.process_time()
frames = 5 * 24
with av.open("/dev/null", "w", format="mp4") as out:
    vout = out.add_stream("libx264", rate=Fraction(24))
    vout.width, vout.height, vout.pix_fmt = w, h, "yuv420p"
    vout.options = {{"preset": "veryfast", "crf": "23", "maxrate": "2M", "bufsize": "4M"}}
    for i in range(frames):
        vframe = av.VideoFrame.from_image(still.copy()).reformat(format="yuv420p")
        vframe.pts = i
        out.mux(vout.encode(vframe))
    out.mux(vout.encode(None))
print(json.dumps({{"elapsed": time.perf_counter() - start, "cpu": time.process_time() - cpu_start, "seconds": frames / 24, "size": [w, h]}}))
"""

RENDER = """
import json, sys, time
sys.path.insert(0, {repo!r})
from pathlib import Path
from bot.animate.models import AnimateOptions
from bot.animate.plan import AnimateInputs, plan_animate
from bot.models import MediaFile
from bot.providers.simulator_animate import render_animate
from tests.animate_factory import EXAMPLE_PATHS, example_brush, example_picture
root = Path({root!r})
example_picture().resize((1536, 1024)).save(root / "still.png")
example_brush().resize((1536, 1024), 0).save(root / "brush.png")
example_picture().transpose(0).resize((1536, 1024)).save(root / "end.png")
def media(p):
    return MediaFile(path=p, filename=p.name, content_type="image/png", size=p.stat().st_size)
kind, seconds, side = {kind!r}, {seconds}, {side}
paths = "; ".join(f"{{part.split(':')[0]}}:" + " ".join(f"{{int(x) * 2}},{{int(y) * 2}}" for x, y in (p.split(",") for p in part.split(":")[1].split()))
                  for part in EXAMPLE_PATHS.split(";"))
options = {{
    "zoom": dict(camera="zoom in", camera_strength=7),
    "roll": dict(camera="roll clockwise", camera_strength=7),
    "brush": dict(paths=paths),
    "end frame": dict(mode="pro"),
    "plain, sound": dict(mode="pro", sound=True),
}}[kind]
inputs = AnimateInputs(
    image=media(root / "still.png"), options=AnimateOptions(duration=seconds, **options),
    brush=media(root / "brush.png") if kind == "brush" else None,
    end_image=media(root / "end.png") if kind == "end frame" else None,
)
request = plan_animate(inputs, "simulator", root / "job", public_url=False).request
start, cpu_start = time.perf_counter(), time.process_time()
result = render_animate(request, root / "out.mp4", max_side=side)
print(json.dumps({{
    "elapsed": time.perf_counter() - start, "cpu": time.process_time() - cpu_start, "seconds": result.seconds,
    "size": [result.width, result.height],
}}))
"""

PREVIEW_CASES = [
    ("floor: decode + re-encode the 4096² brush PNG", "floor", "", ""),
    ("transparent brush, JPEG picture", "transparent", "picture.jpg", "brush.png"),
    ("transparent brush, PNG picture", "transparent-png", "picture.png", "brush.png"),
    ("painted-over brush, PNG picture", "painted", "picture.png", "painted.png"),
    ("Kling's seven masks, cut when the job is sent", "kling masks", "", ""),
]
RENDER_CASES = [
    ("floor: the still, unchanged", 720), ("zoom", 720), ("roll", 720), ("brush", 720), ("end frame", 720), ("plain, sound", 720),
    ("floor: the still, unchanged", 1280), ("zoom", 1280), ("brush", 1280),
]


def run(code: str) -> dict:  # type: ignore[type-arg]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
    with tempfile.TemporaryDirectory() as root:
        subprocess.run([sys.executable, "-c", MAKE_INPUTS.format(repo=str(REPO), root=root, side=SIDE)], check=True)
        print(f"Checks, brush files and preview for a {SIDE}×{SIDE} picture, six moving areas, 77-point paths\n")
        print("| case | total | CPU time | checks + brush files | preview | peak memory (RSS growth) |")
        print("|---|---:|---:|---:|---:|---:|")
        for label, case, picture, brush in PREVIEW_CASES:
            result = run(CASE.format(repo=str(REPO), root=root, case=case, picture=picture, brush=brush))
            parts = result["parts"]
            split = [f"{parts[k]:.2f} s" for k in ("checks and brush files", "preview")] if parts else ["", ""]
            print(
                f"| {label} | {result['elapsed']:.2f} s | {result['cpu']:.2f} s | {split[0]} | {split[1]} | {result['peak_mib']:.0f} MiB |"
            )
    print("\nSimulator image-to-video render (1536×1024 still, 5 s clip)\n")
    print("| case | output | render time | CPU time (all threads) | seconds of work per second of output |")
    print("|---|---|---:|---:|---:|")
    for kind, side in RENDER_CASES:
        with tempfile.TemporaryDirectory() as root:
            code = RENDER_FLOOR if kind.startswith("floor") else RENDER
            result = run(code.format(repo=str(REPO), root=root, kind=kind, seconds=5, side=side))
        w, h = result["size"]
        print(f"| {kind} | {w}×{h} | {result['elapsed']:.1f} s | {result['cpu']:.1f} s | {result['elapsed'] / result['seconds']:.2f} |")
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
