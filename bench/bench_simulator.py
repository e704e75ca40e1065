"""How fast the simulator renders, and how much memory a render takes.

The simulator runs inside the bot process (two renders at a time), so its cost
is the bot's cost when no provider key is set. For each case this renders one
result from generated inputs and reports seconds of work per second of output
and the peak RSS of the process doing it (a fresh process per case, so peaks
do not carry over).

    .venv/bin/python bench/bench_simulator.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# (label, input width, height, seconds, fps, output long side (720 std / 1280 pro), keep sound)
CASES = [
    ("std, 720p 30 fps input, 10 s", 1280, 720, 10.0, 30, 720, False),
    ("pro, 720p 30 fps input, 10 s, sound", 1280, 720, 10.0, 30, 1280, True),
    ("pro, 1080p 30 fps input, 30 s", 1920, 1080, 30.0, 30, 1280, False),
]

ONE_CASE = """
import json, resource, sys, time
from pathlib import Path
sys.path.insert(0, {repo!r})
from bot.providers.simulator_render import render_motion
from tests.media_factory import make_image, make_video
root = Path({root!r})
image = make_image(root / "still.png", 768, 1024)
video = make_video(root / "motion.mp4", {w}, {h}, seconds={seconds}, fps={fps}, audio={sound})
start = time.perf_counter()
render_motion(image, video, root / "out.mp4", max_seconds=30.0, max_side={side}, keep_sound={sound})
elapsed = time.perf_counter() - start
print(json.dumps({{"elapsed": elapsed, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def main() -> None:
    print("| case | render time | seconds of work per second of output | peak RSS |")
    print("|---|---:|---:|---:|")
    for label, w, h, seconds, fps, side, sound in CASES:
        with tempfile.TemporaryDirectory() as root:
            code = ONE_CASE.format(repo=str(REPO), root=root, w=w, h=h, seconds=seconds, fps=fps, side=side, sound=sound)
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"| {label} | {result['elapsed']:.1f} s | {result['elapsed'] / seconds:.2f} | {result['peak_rss_mib']:.0f} MiB |"
        )


if __name__ == "__main__":
    main()
