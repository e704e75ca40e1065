"""Kling Motion Control's documented input limits, in one table.

Source: docs/providers.md §1.3 (Kling official API, motion-control create).
Providers that differ declare their own copy in their capabilities; the media
checks read whichever table the chosen provider carries.
"""

from __future__ import annotations

from pydantic import BaseModel

MB = 1_000_000  # providers write "10 MB"; we read it as decimal, the stricter reading


class MotionLimits(BaseModel, frozen=True):
    image_formats: tuple[str, ...] = ("JPEG", "PNG")  # Pillow format names
    image_extensions: tuple[str, ...] = (".jpg", ".jpeg", ".png")
    image_content_types: tuple[str, ...] = ("image/jpeg", "image/png")
    image_max_bytes: int = 10 * MB
    image_min_side: int = 300
    image_max_side: int = 65536
    image_min_aspect: float = 1 / 2.5  # width / height
    image_max_aspect: float = 2.5

    video_extensions: tuple[str, ...] = (".mp4", ".mov")
    video_content_types: tuple[str, ...] = ("video/mp4", "video/quicktime")
    video_max_bytes: int = 100 * MB
    video_min_side: int = 340
    video_max_side: int = 3850
    video_min_seconds: float = 3.0
    video_max_seconds: float = 30.0  # orientation = video
    video_max_seconds_image_orientation: float = 10.0  # orientation = image

    prompt_max_chars: int = 2500

    def video_max_for(self, orientation: str) -> float:
        return self.video_max_seconds_image_orientation if orientation == "image" else self.video_max_seconds


KLING_MOTION_LIMITS = MotionLimits()

# Durations are measured from packets; allow this much rounding before refusing.
SECONDS_TOLERANCE = 0.05
