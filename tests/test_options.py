"""Options are checked once, from a provider's capabilities, with one wording per refusal."""

from __future__ import annotations

import pytest

import bot.intake
from bot.media import MediaRejected
from bot.models import MotionOptions
from bot.options import check_options, options_refusal
from bot.providers.base import Capabilities
from bot.providers.goapi import GoApiProvider
from bot.providers.kling import KlingProvider
from bot.providers.modelslab import ModelsLabProvider
from bot.providers.useapi import UseApiProvider

EVERYTHING = Capabilities(motion_templates=True)
TEMPLATES_ONLY = Capabilities(motion_templates=True, uploaded_video=False)


@pytest.mark.parametrize(
    ("options", "caps", "has_video", "field", "words"),
    [
        (MotionOptions(mode="pro"), Capabilities(modes=("std",)), True, "options", "does not offer mode=pro; choose std."),
        (
            MotionOptions(orientation="image"),
            Capabilities(orientations=("video",)),
            True,
            "options",
            "does not offer orientation=image; choose video.",
        ),
        (MotionOptions(keep_sound=True), Capabilities(keep_sound=False), True, "options", "turn keep_sound off"),
        (MotionOptions(prompt="dance"), Capabilities(prompt=False), True, "options", "does not take a prompt"),
        (MotionOptions(motion_template="t1"), Capabilities(), False, "options", "has no motion templates"),
        (MotionOptions(motion_template="t1"), EVERYTHING, True, "options", "not both"),
        (MotionOptions(), EVERYTHING, False, "video", "Attach a reference motion video"),
        (MotionOptions(), TEMPLATES_ONLY, True, "options", "only works with its motion templates"),
    ],
)
def test_each_refusal_names_the_option_and_the_way_out(
    options: MotionOptions, caps: Capabilities, has_video: bool, field: str, words: str
) -> None:
    refusal = options_refusal(options, caps, "acme", has_video=has_video)
    assert isinstance(refusal, MediaRejected)
    assert refusal.field == field and words in str(refusal.message)
    with pytest.raises(MediaRejected) as raised:
        check_options(options, caps, "acme", has_video)
    assert raised.value.message == refusal.message  # one wording, whichever way it is asked


@pytest.mark.parametrize(
    ("options", "caps", "has_video"),
    [
        (MotionOptions(), Capabilities(), True),
        (MotionOptions(mode="pro", orientation="image", keep_sound=True, prompt="spin"), Capabilities(), True),
        (MotionOptions(motion_template="t1"), TEMPLATES_ONLY, False),
    ],
)
def test_what_a_provider_offers_passes(options: MotionOptions, caps: Capabilities, has_video: bool) -> None:
    assert options_refusal(options, caps, "acme", has_video=has_video) is None
    check_options(options, caps, "acme", has_video)


@pytest.mark.parametrize(
    ("provider", "options", "has_video", "refused"),
    [
        (KlingProvider, MotionOptions(motion_template="t1"), False, True),  # no preset motions
        (KlingProvider, MotionOptions(keep_sound=True, mode="pro", orientation="image"), True, False),
        (GoApiProvider, MotionOptions(motion_template="Heart Gesture Dance"), False, False),
        (GoApiProvider, MotionOptions(motion_template="Heart Gesture Dance"), True, True),  # one motion source
        (UseApiProvider, MotionOptions(motion_template="-100"), False, False),
        (ModelsLabProvider, MotionOptions(keep_sound=True), True, True),  # no keep_original_sound
        (ModelsLabProvider, MotionOptions(motion_template="t1"), False, True),
    ],
)
def test_the_providers_capabilities_decide(provider: type, options: MotionOptions, has_video: bool, refused: bool) -> None:
    refusal = options_refusal(options, provider.capabilities, provider.name, has_video=has_video)
    assert (refusal is not None) is refused


def test_intake_asks_this_module() -> None:
    assert bot.intake.check_options is check_options  # no second copy with its own sentences
