"""Whether a request's options suit a provider: decided here, once, from its `Capabilities`.

Intake asks before anything is downloaded or spent (`check_options`); anything that
picks another provider for a job later (failover) asks the same question
(`options_refusal`) and so gets the same answer. Adapters do not check options
again: they translate what this module let through. Each refusal has one wording.
"""

from __future__ import annotations

from bot.i18n import OrList, Text
from bot.media import MediaRejected
from bot.models import MotionOptions
from bot.providers.base import Capabilities


def options_refusal(options: MotionOptions, caps: Capabilities, provider: str, *, has_video: bool) -> MediaRejected | None:
    """The refusal `provider` owes these options, or None when it can take them."""
    if options.mode not in caps.modes:
        return MediaRejected(
            "options",
            Text("{provider} does not offer mode={mode}; choose {choices}.", provider=provider, mode=options.mode, choices=OrList(caps.modes)),
        )
    if options.orientation not in caps.orientations:
        return MediaRejected(
            "options",
            Text(
                "{provider} does not offer orientation={orientation}; choose {choices}.",
                provider=provider, orientation=options.orientation, choices=OrList(caps.orientations),
            ),
        )
    if options.keep_sound and not caps.keep_sound:
        return MediaRejected("options", Text("{provider} cannot keep the reference video's sound; turn keep_sound off.", provider=provider))
    if options.prompt and not caps.prompt:
        return MediaRejected("options", Text("{provider} does not take a prompt; leave it empty.", provider=provider))
    if options.motion_template and not caps.motion_templates:
        return MediaRejected("options", Text("{provider} has no motion templates; attach a reference video instead.", provider=provider))
    if options.motion_template and has_video:
        return MediaRejected("options", Text("Choose a motion template or attach a video, not both."))
    if not options.motion_template and not has_video:
        return MediaRejected("video", Text("Attach a reference motion video (or pick a motion template)."))
    if has_video and not caps.uploaded_video:
        return MediaRejected(
            "options", Text("{provider} only works with its motion templates; pick one instead of a video.", provider=provider)
        )
    return None


def check_options(options: MotionOptions, caps: Capabilities, provider: str, has_video: bool) -> None:
    """Refuse, before anything is sent, an option the chosen provider does not support."""
    refusal = options_refusal(options, caps, provider, has_video=has_video)
    if refusal is not None:
        raise refusal
