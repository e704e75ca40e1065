"""Which model takes the member's choices: the capability data, asked.

`choose_model` picks (or checks) the model and refuses with the reason and what would
work instead; `model_choices` is the autocomplete list (models that take every other
choice made so far). Both read only `bot.animate.capabilities`.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.animate.capabilities import (
    EXCLUSIVE,
    FEATURE_NAMES,
    Feature,
    ModelOffer,
    ProviderAnimate,
    not_offered,
    seconds_text,
)
from bot.animate.refusals import OptionRefused
from bot.i18n import AndList, Text
from bot.models import Mode

_CAMERA = Text("a camera move", msgctxt="feature")
_GROUP_NAMES = {"end_frame": FEATURE_NAMES["end_frame"], "brush": FEATURE_NAMES["brush"], "camera_simple": _CAMERA, "camera_preset": _CAMERA}


def wanted_features(
    *, end_frame: bool, brush: bool, camera_simple: bool | None, creativity: bool, sound: bool
) -> tuple[Feature, ...]:
    """The features a request uses; `camera_simple` is None when no camera move was chosen."""
    features: list[Feature] = []
    if end_frame:
        features.append("end_frame")
    if brush:
        features.append("brush")
    if camera_simple is not None:
        features.append("camera_simple" if camera_simple else "camera_preset")
    if creativity:
        features.append("creativity")
    if sound:
        features.append("sound")
    return tuple(features)


def check_exclusive(features: Sequence[Feature]) -> None:
    chosen = [_GROUP_NAMES[group[0]] for group in EXCLUSIVE if any(f in group for f in features)]
    if len(chosen) > 1:
        raise OptionRefused(
            Text(
                "Kling takes only one of an end frame, a motion brush or a camera move per video; you chose {chosen}.",
                chosen=AndList(chosen),
            )
        )


def fits(caps: ProviderAnimate, offer: ModelOffer, mode: Mode, duration: int, features: Sequence[Feature]) -> bool:
    return (
        mode in offer.modes
        and duration in offer.durations
        and all(caps.fact(f, offer.name, mode, duration) for f in features)
    )


def model_choices(
    caps: ProviderAnimate, features: Sequence[Feature], mode: Mode | None = None, duration: int | None = None
) -> list[ModelOffer]:
    """Models that take every chosen feature in some allowed mode and duration (autocomplete)."""
    return [
        offer
        for offer in caps.models
        if any(
            fits(caps, offer, m, d, features)
            for m in ((mode,) if mode else offer.modes)
            for d in ((duration,) if duration else offer.durations)
        )
    ]


def choose_model(
    caps: ProviderAnimate, model: str | None, mode: Mode, duration: int, features: Sequence[Feature]
) -> ModelOffer:
    """The named model, checked, or the first of the provider's models that takes everything."""
    if not caps.offered:
        raise OptionRefused(not_offered(caps))
    check_exclusive(features)
    if model is not None:
        offer = caps.model(model)
        if offer is None:
            names = ", ".join(o.name for o in caps.models)
            raise OptionRefused(
                Text('{provider} has no model "{model}" for /animate; it offers {names}.', provider=caps.provider, model=model[:40], names=names)
            )
        if mode not in offer.modes:
            raise OptionRefused(
                Text(
                    "{model} on {provider} runs in {modes} mode only, not {mode}.",
                    model=offer.name, provider=caps.provider, modes="/".join(offer.modes), mode=mode,
                )
            )
        if duration not in offer.durations:
            raise OptionRefused(
                Text(
                    "{model} on {provider} makes {durations} videos; {duration} s is not one of them.",
                    model=offer.name, provider=caps.provider, durations=seconds_text(offer.durations), duration=duration,
                )
            )
        for feature in features:
            if caps.fact(feature, offer.name, mode, duration) is None:
                raise OptionRefused(_feature_refusal(caps, feature, f"{offer.name} ({mode}, {duration} s)"))
        return offer
    for offer in caps.models:
        if fits(caps, offer, mode, duration, features):
            return offer
    if not any(duration in offer.durations for offer in caps.models):
        every = sorted({d for offer in caps.models for d in offer.durations})
        raise OptionRefused(
            Text(
                "No {provider} model makes {duration} s videos; durations offered: {durations}.",
                provider=caps.provider, duration=duration, durations=seconds_text(tuple(every)),
            )
        )
    for feature in features:  # the first choice that no model can take in this mode and duration
        if not any(caps.fact(feature, o.name, mode, duration) for o in caps.models):
            raise OptionRefused(_feature_refusal(caps, feature, Text("a {mode} {duration} s video", mode=mode, duration=duration)))
    raise OptionRefused(
        Text(
            "No {provider} model takes {features} together in {mode} mode for {duration} s.",
            provider=caps.provider, features=AndList(FEATURE_NAMES[f] for f in features), mode=mode, duration=duration,
        )
    )


def _feature_refusal(caps: ProviderAnimate, feature: Feature, what: Text | str) -> Text:
    facts = caps.facts(feature)
    if not facts:
        return Text("{provider} does not take {feature} with any model.", provider=caps.provider, feature=FEATURE_NAMES[feature])
    where = "; ".join(fact.describe() for fact in facts)
    return Text(
        "{what} on {provider} does not take {feature}; it works with {where}.",
        what=what, provider=caps.provider, feature=FEATURE_NAMES[feature], where=where,
    )
