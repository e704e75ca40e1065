"""Refusals for /animate: said before anything is spent, one sentence each.

They subclass `bot.errors.Refusal`, so the one error handler that answers refusals
privately handles these too. `field` names the option at fault, for the cog and the CLI.
"""

from __future__ import annotations

from typing import Literal

from bot.errors import Refusal
from bot.i18n import Text

Field = Literal["image", "end_image", "brush", "paths", "camera", "options"]


class AnimateRefused(Refusal):
    """Root of the /animate refusals."""

    field: Field = "options"

    def __init__(self, message: Text | str) -> None:
        super().__init__(message)  # type: ignore[arg-type]  # a Text renders per reader; str() is English


class BrushRefused(AnimateRefused):
    """The brush PNG breaks a rule (size, colours, transparency, emptiness)."""

    field = "brush"


class PathRefused(AnimateRefused):
    """The paths text does not parse, or a path breaks a rule (points, picture, area)."""

    field = "paths"


class CameraRefused(AnimateRefused):
    """An unknown camera move, or a strength outside 1-10."""

    field = "camera"


class OptionRefused(AnimateRefused):
    """The chosen provider, model, mode or duration does not take an option (capability data)."""

    field = "options"
