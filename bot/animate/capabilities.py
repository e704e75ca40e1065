"""What each provider's image-to-video takes, per model, mode and duration: cited data.

Every fact carries its source: the provider's documentation page (as listed in
docs/providers.md) and the section of providers.md that quotes it. Facts that
providers.md marks unconfirmed, or that we carried over from Kling's own rules to a
reseller without the reseller saying so, have `confirmed=False` and a note. They are
still used (they are our best reading, and a provider that disagrees rejects the task,
which refunds); `/admin provider` should show them with a question mark.

A model's neutral name is Kling's own `model_name`; `wire` is what that provider calls it.
The order of a provider's models is the order in which a model is picked when the member
names none: newer first, the dearest (v3, masters) last.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from bot.i18n import Text
from bot.models import Mode

Feature = Literal["end_frame", "brush", "camera_simple", "camera_preset", "creativity", "sound"]
FEATURE_NAMES: dict[str, Text] = {  # said inside refusals, so in the reader's language
    "end_frame": Text("an end frame", msgctxt="feature"),
    "brush": Text("a motion brush", msgctxt="feature"),
    "camera_simple": Text("a simple camera move", msgctxt="feature"),
    "camera_preset": Text("a preset camera move", msgctxt="feature"),
    "creativity": Text("creativity (cfg_scale)", msgctxt="feature"),
    "sound": Text("sound", msgctxt="feature"),
}
BOTH: tuple[Mode, ...] = ("std", "pro")
PRO: tuple[Mode, ...] = ("pro",)
STD: tuple[Mode, ...] = ("std",)
FIVE_TEN = (5, 10)
THREE_TO_FIFTEEN = tuple(range(3, 16))

KLING_I2V = "https://app.klingai.com/global/dev/document-api/apiReference/model/imageToVideo"
KLING_MAP = "https://app.klingai.com/global/dev/document-api/apiReference/model/videoModels"
GOAPI = "https://goapi.ai/docs/"
USEAPI = "https://useapi.net/docs/api-kling-v1/post-kling-videos-image2video-frames"
MODELSLAB = "https://modelslab.com/models/klingai/kling-motion-control/api"
SIMULATOR = "docs/animate.md"


class Source(BaseModel, frozen=True):
    url: str
    section: str  # where providers.md quotes it
    confirmed: bool = True
    note: str = ""


class ModelOffer(BaseModel, frozen=True):
    name: str
    wire: str
    modes: tuple[Mode, ...]
    durations: tuple[int, ...]
    source: Source


class FeatureFact(BaseModel, frozen=True):
    """`feature` works with these models, in these modes, for these durations."""

    feature: Feature
    models: tuple[str, ...]
    modes: tuple[Mode, ...] = BOTH
    durations: tuple[int, ...] | None = None  # None: every duration the model offers
    source: Source

    def covers(self, model: str, mode: Mode, duration: int) -> bool:
        return model in self.models and mode in self.modes and (self.durations is None or duration in self.durations)

    def describe(self) -> str:
        when = "/".join(self.modes) + ("" if self.durations is None else f", {seconds_text(self.durations)}")
        return f"{', '.join(self.models)} ({when})"


class ProviderAnimate(BaseModel, frozen=True):
    provider: str
    offered: bool
    source: Source
    why_not: str = ""  # when not offered: one sentence for members, a msgid of the catalogue (see WHY_NOT)
    models: tuple[ModelOffer, ...] = ()
    features: tuple[FeatureFact, ...] = ()
    mask_transport: tuple[Literal["url", "base64"], ...] = ()  # how brush images reach the provider
    inputs_by_url: bool = False  # image and end image only by URL (the bot's or Discord's), never as bytes
    max_path_points: int = 77
    max_moving_areas: int = 6
    notes: tuple[str, ...] = ()

    def model(self, name: str) -> ModelOffer | None:
        return next((offer for offer in self.models if offer.name == name), None)

    def fact(self, feature: Feature, model: str, mode: Mode, duration: int) -> FeatureFact | None:
        return next((f for f in self.features if f.feature == feature and f.covers(model, mode, duration)), None)

    def facts(self, feature: Feature) -> tuple[FeatureFact, ...]:
        return tuple(f for f in self.features if f.feature == feature)


def seconds_text(durations: tuple[int, ...]) -> str:
    if len(durations) > 2 and durations == tuple(range(durations[0], durations[-1] + 1)):
        return f"{durations[0]}–{durations[-1]} s"
    return "/".join(str(d) for d in durations) + " s"


# Kling's rule, for every provider (they all run Kling): one of these per request.
EXCLUSIVE: tuple[tuple[str, ...], ...] = (("end_frame",), ("brush",), ("camera_simple", "camera_preset"))
EXCLUSIVE_SOURCE = Source(url=KLING_I2V, section="providers.md §1.4 (mutually exclusive)")

# --- Kling official -------------------------------------------------------------------------------

_K = Source(url=KLING_I2V, section="providers.md §1.4")
_K_MAP = Source(
    url=KLING_MAP, section="not in providers.md", confirmed=False,
    note="Kling's capability map as quoted in a third-party copy of the docs; check the live page",
)
_K_MODE_GUESS = Source(url=KLING_I2V, section="providers.md §1.4", confirmed=False, note="modes per model not stated")
_KLING_MODELS = (
    ModelOffer(name="kling-v2-6", wire="kling-v2-6", modes=BOTH, durations=FIVE_TEN, source=_K),
    ModelOffer(name="kling-v2-5-turbo", wire="kling-v2-5-turbo", modes=BOTH, durations=FIVE_TEN, source=_K_MODE_GUESS),
    ModelOffer(name="kling-v2-1", wire="kling-v2-1", modes=BOTH, durations=FIVE_TEN, source=_K),
    ModelOffer(name="kling-v1-6", wire="kling-v1-6", modes=BOTH, durations=FIVE_TEN, source=_K),
    ModelOffer(name="kling-v1-5", wire="kling-v1-5", modes=BOTH, durations=FIVE_TEN, source=_K),
    ModelOffer(name="kling-v1", wire="kling-v1", modes=BOTH, durations=FIVE_TEN, source=_K),
    ModelOffer(name="kling-v3", wire="kling-v3", modes=BOTH, durations=THREE_TO_FIFTEEN, source=_K),
    ModelOffer(
        name="kling-v2-1-master", wire="kling-v2-1-master", modes=PRO, durations=FIVE_TEN,
        source=Source(url=GOAPI, section="providers.md §2.2", confirmed=False, note="pro only per GoAPI's 2.1-master"),
    ),
    ModelOffer(name="kling-v2-master", wire="kling-v2-master", modes=BOTH, durations=FIVE_TEN, source=_K_MODE_GUESS),
)
_KLING_FEATURES = (
    FeatureFact(feature="brush", models=("kling-v1",), modes=BOTH, durations=(5,), source=_K),
    FeatureFact(feature="brush", models=("kling-v1-5",), modes=PRO, durations=(5,), source=_K),
    FeatureFact(feature="camera_simple", models=("kling-v1-5",), modes=PRO, durations=(5,), source=_K),
    FeatureFact(feature="camera_simple", models=("kling-v1",), modes=STD, durations=(5,), source=_K_MAP),
    FeatureFact(feature="camera_preset", models=("kling-v1",), modes=STD, durations=(5,), source=_K_MAP),
    FeatureFact(feature="end_frame", models=("kling-v1",), modes=BOTH, durations=(5,), source=_K_MAP),
    FeatureFact(feature="end_frame", models=("kling-v1-5", "kling-v1-6"), modes=PRO, durations=FIVE_TEN, source=_K_MAP),
    FeatureFact(
        feature="creativity", models=("kling-v1", "kling-v1-5", "kling-v1-6"),
        source=Source(url=KLING_I2V, section="providers.md §1.4", note="'not supported by kling-v2.x'; v3 unstated, so not offered"),
    ),
    FeatureFact(feature="sound", models=("kling-v2-6",), modes=PRO, source=_K),
    FeatureFact(feature="sound", models=("kling-v3",), modes=BOTH, source=_K),
)
KLING = ProviderAnimate(
    provider="kling", offered=True, source=_K, models=_KLING_MODELS, features=_KLING_FEATURES,
    # static_mask / dynamic_masks[].mask: "URL/base64" (providers.md §1.4), so no public URL is needed
    mask_transport=("url", "base64"), max_path_points=77, max_moving_areas=6,
)

# --- GoAPI ----------------------------------------------------------------------------------------

_G = Source(url=GOAPI, section="providers.md §2.2")
_G_AS_KLING = Source(
    url=GOAPI, section="providers.md §2.2", confirmed=False,
    note="GoAPI does not say which versions take this; Kling's own rule carried over",
)
_G_MAP = {  # neutral name -> GoAPI `version`
    "kling-v2-6": "2.6", "kling-v2-5-turbo": "2.5", "kling-v2-1": "2.1", "kling-v1-6": "1.6", "kling-v1-5": "1.5",
    "kling-v1": "1.0", "kling-v3": "3.0", "kling-v2-1-master": "2.1-master", "kling-v2-master": "2.0",
}
_G_GUESS = Source(url=GOAPI, section="providers.md §2.2", confirmed=False, note="version-to-model mapping inferred")
GOAPI_ANIMATE = ProviderAnimate(
    provider="goapi", offered=True, source=_G,
    models=tuple(
        ModelOffer(
            name=name, wire=wire, modes=PRO if name == "kling-v2-1-master" else BOTH, durations=FIVE_TEN,
            source=_G_GUESS if name in ("kling-v2-5-turbo", "kling-v2-master") else _G,
        )
        for name, wire in _G_MAP.items()
    ),
    features=(
        FeatureFact(
            feature="brush", models=("kling-v1",), modes=BOTH, durations=(5,),
            source=Source(url=GOAPI, section="providers.md §2.2 (motion brush)", confirmed=False,
                          note="version 1.0 only is documented; modes and 5 s carried over from Kling"),
        ),
        FeatureFact(feature="camera_simple", models=("kling-v1-5",), modes=PRO, durations=(5,), source=_G_AS_KLING),
        FeatureFact(feature="camera_simple", models=("kling-v1",), modes=STD, durations=(5,), source=_G_AS_KLING),
        FeatureFact(feature="camera_preset", models=("kling-v1",), modes=STD, durations=(5,), source=_G_AS_KLING),
        FeatureFact(feature="end_frame", models=("kling-v1",), modes=BOTH, durations=(5,), source=_G_AS_KLING),
        FeatureFact(feature="end_frame", models=("kling-v1-5", "kling-v1-6"), modes=PRO, durations=FIVE_TEN, source=_G_AS_KLING),
        FeatureFact(feature="creativity", models=("kling-v1", "kling-v1-5", "kling-v1-6"), source=_G_AS_KLING),
        FeatureFact(feature="sound", models=("kling-v2-6",), modes=PRO, source=_G),
    ),
    mask_transport=("url",),  # motion_brush.mask_url
    inputs_by_url=True,  # image_url, image_tail_url: "Image input: URL" (providers.md §5)
    max_path_points=77,
    max_moving_areas=6,
    notes=(
        "The motion brush needs a PPU Premium or BYOA Developer plan (providers.md §2.2).",
        "GoAPI documents no upper bound on path points; Kling's 77 is kept since GoAPI runs Kling (unconfirmed).",
        "Version 3.0 may take 3-15 s (unconfirmed); only 5 and 10 s are offered.",
    ),
)

# --- useapi.net -----------------------------------------------------------------------------------

_U = Source(url=USEAPI, section="providers.md §3.3")
_U_GUESS = Source(url=USEAPI, section="providers.md §3.3", confirmed=False, note="model names between v1-5 and v2-6 not listed")
USEAPI_ANIMATE = ProviderAnimate(
    provider="useapi", offered=True, source=_U,
    models=(
        ModelOffer(name="kling-v2-6", wire="kling-v2-6", modes=BOTH, durations=FIVE_TEN, source=_U),
        ModelOffer(name="kling-v2-5-turbo", wire="kling-v2-5-turbo", modes=BOTH, durations=FIVE_TEN, source=_U_GUESS),
        ModelOffer(name="kling-v2-1", wire="kling-v2-1", modes=BOTH, durations=FIVE_TEN, source=_U_GUESS),
        ModelOffer(name="kling-v1-6", wire="kling-v1-6", modes=BOTH, durations=FIVE_TEN, source=_U_GUESS),
        ModelOffer(name="kling-v1-5", wire="kling-v1-5", modes=BOTH, durations=FIVE_TEN, source=_U),
        ModelOffer(name="kling-v3", wire="kling-v3-0", modes=BOTH, durations=THREE_TO_FIFTEEN, source=_U),
        ModelOffer(name="kling-v3-turbo", wire="kling-v3-0-turbo", modes=BOTH, durations=THREE_TO_FIFTEEN, source=_U),
    ),
    features=(
        FeatureFact(
            feature="end_frame",
            models=("kling-v2-6", "kling-v2-5-turbo", "kling-v2-1", "kling-v1-6", "kling-v1-5", "kling-v3", "kling-v3-turbo"),
            source=Source(url=USEAPI, section="providers.md §3.3", confirmed=False,
                          note="image_tail is documented; which models honour it is not"),
        ),
        FeatureFact(feature="creativity", models=("kling-v1-5", "kling-v1-6"), source=_U),
    ),
    mask_transport=(),
    notes=("No motion brush or camera control is documented for image2video-frames (providers.md §3.3).",),
)

# --- ModelsLab, simulator -------------------------------------------------------------------------

# Why a provider offers no /animate, as catalogue messages (ProviderAnimate.why_not holds the msgid).
WHY_NOT: dict[str, Text] = {
    "modelslab": Text(
        "ModelsLab is set up for Motion Control only (its documented Kling endpoint); pick another provider for /animate."
    ),
}
MODELSLAB_ANIMATE = ProviderAnimate(
    provider="modelslab", offered=False, source=Source(url=MODELSLAB, section="providers.md §4"),
    why_not=WHY_NOT["modelslab"].msgid,
)
# The simulator obeys Kling's rules, so a free trial teaches what a paid run will accept.
SIMULATOR_ANIMATE = KLING.model_copy(
    update={
        "provider": "simulator",
        "source": Source(url=SIMULATOR, section="docs/animate.md", note="mirrors Kling official"),
        "mask_transport": ("url", "base64"),
    }
)

BY_PROVIDER: dict[str, ProviderAnimate] = {
    caps.provider: caps for caps in (KLING, GOAPI_ANIMATE, USEAPI_ANIMATE, MODELSLAB_ANIMATE, SIMULATOR_ANIMATE)
}


def for_provider(provider: str) -> ProviderAnimate:
    caps = BY_PROVIDER.get(provider)
    if caps is None:
        raise KeyError(f"no image-to-video capabilities for provider {provider!r}")
    return caps


def not_offered(caps: ProviderAnimate) -> Text:
    """Why `caps.provider` offers no /animate, for members."""
    return WHY_NOT.get(caps.provider) or Text("{provider} does not make /animate videos; pick another provider.", provider=caps.provider)


def all_sources() -> list[Source]:
    """Every source cited, for /admin provider and the test that every fact is cited."""
    sources = [EXCLUSIVE_SOURCE]
    for caps in BY_PROVIDER.values():
        sources.append(caps.source)
        sources.extend(offer.source for offer in caps.models)
        sources.extend(fact.source for fact in caps.features)
    return sources
