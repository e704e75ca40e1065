"""Capability data (every fact cited, consistent) and the model choice it drives."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.animate.capabilities import (
    BY_PROVIDER,
    GOAPI,
    KLING,
    KLING_I2V,
    KLING_MAP,
    MODELSLAB,
    SIMULATOR,
    USEAPI,
    all_sources,
    for_provider,
)
from bot.animate.choose import (
    check_exclusive,
    choose_model,
    model_choices,
    wanted_features,
)
from bot.animate.refusals import OptionRefused

REPO = Path(__file__).resolve().parents[1]
# The documentation pages docs/providers.md lists for image-to-video.
DOCUMENTED = {KLING_I2V, KLING_MAP, GOAPI, USEAPI, MODELSLAB}


def test_every_fact_cites_a_documented_page_and_unconfirmed_ones_say_why() -> None:
    for source in all_sources():
        if source.url == SIMULATOR:
            assert (REPO / source.url).is_file()
        else:
            assert source.url in DOCUMENTED
        assert source.section
        assert source.confirmed or source.note, source


def test_feature_facts_only_name_offered_models_modes_and_durations() -> None:
    for caps in BY_PROVIDER.values():
        for fact in caps.features:
            for name in fact.models:
                offer = caps.model(name)
                assert offer is not None, (caps.provider, name)
                assert set(fact.modes) <= set(offer.modes), (caps.provider, fact)
                assert fact.durations is None or set(fact.durations) <= set(offer.durations), (caps.provider, fact)


def test_kling_brush_is_exactly_what_the_docs_say() -> None:
    # providers.md §1.4: "Supported only on kling-v1 std/pro 5 s and kling-v1-5 pro 5 s"
    supported = {
        (offer.name, mode, duration)
        for offer in KLING.models
        for mode in offer.modes
        for duration in offer.durations
        if KLING.fact("brush", offer.name, mode, duration)
    }
    assert supported == {("kling-v1", "std", 5), ("kling-v1", "pro", 5), ("kling-v1-5", "pro", 5)}


def test_what_each_provider_offers() -> None:
    assert not for_provider("modelslab").offered
    assert for_provider("useapi").facts("brush") == () and for_provider("useapi").facts("camera_simple") == ()
    assert for_provider("goapi").mask_transport == ("url",) and "base64" in for_provider("kling").mask_transport
    simulator = for_provider("simulator")
    assert simulator.models == KLING.models and simulator.features == KLING.features
    with pytest.raises(KeyError):
        for_provider("nobody")


# --- choosing a model ---------------------------------------------------------------------------------


def features(**chosen: bool) -> tuple:  # type: ignore[type-arg]
    camera = chosen.pop("camera", None)
    return wanted_features(
        end_frame=chosen.get("end_frame", False), brush=chosen.get("brush", False), camera_simple=camera,
        creativity=chosen.get("creativity", False), sound=chosen.get("sound", False),
    )


@pytest.mark.parametrize(
    ("provider", "mode", "duration", "chosen", "model"),
    [
        ("kling", "std", 5, {}, "kling-v2-6"),
        ("kling", "std", 5, {"brush": True}, "kling-v1"),
        ("kling", "pro", 5, {"brush": True}, "kling-v1-5"),
        ("kling", "std", 5, {"camera": False}, "kling-v1"),  # a preset
        ("kling", "pro", 5, {"camera": True}, "kling-v1-5"),
        ("kling", "pro", 10, {"end_frame": True}, "kling-v1-6"),
        ("kling", "std", 10, {"creativity": True}, "kling-v1-6"),
        ("kling", "pro", 5, {"sound": True}, "kling-v2-6"),
        ("kling", "std", 5, {"sound": True}, "kling-v3"),  # v2.6 sound needs pro
        ("kling", "std", 12, {}, "kling-v3"),
        ("goapi", "std", 5, {"brush": True}, "kling-v1"),
        ("useapi", "std", 15, {}, "kling-v3"),
    ],
)
def test_the_first_model_that_takes_everything_is_picked(provider: str, mode: str, duration: int, chosen: dict, model: str) -> None:  # type: ignore[type-arg]
    assert choose_model(for_provider(provider), None, mode, duration, features(**chosen)).name == model  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("provider", "model", "mode", "duration", "chosen", "message"),
    [
        ("kling", "kling-v2-6", "std", 5, {"brush": True},
         r"kling-v2-6 \(std, 5 s\) on kling does not take a motion brush; it works with kling-v1 \(std/pro, 5 s\); kling-v1-5 \(pro, 5 s\)"),
        ("kling", "kling-v1", "std", 10, {"brush": True}, r"kling-v1 \(std, 10 s\) on kling does not take a motion brush"),
        ("kling", "kling-v2-6", "std", 5, {"creativity": True}, "does not take creativity"),
        ("kling", "kling-v2-6", "std", 7, {}, "kling-v2-6 on kling makes 5/10 s videos; 7 s is not one of them"),
        ("kling", "kling-v9", "std", 5, {}, 'kling has no model "kling-v9" for /animate; it offers kling-v2-6, '),
        ("kling", "kling-v2-1-master", "std", 5, {}, "runs in pro mode only, not std"),
        ("kling", None, "std", 10, {"brush": True}, r"a std 10 s video on kling does not take a motion brush"),
        ("kling", None, "std", 20, {}, "No kling model makes 20 s videos; durations offered: 3–15 s"),
        ("kling", None, "std", 5, {"brush": True, "sound": True}, "No kling model takes a motion brush and sound together"),
        ("useapi", None, "std", 5, {"brush": True}, "useapi does not take a motion brush with any model"),
        ("modelslab", None, "std", 5, {}, "ModelsLab is set up for Motion Control only"),
    ],
)
def test_refusals_say_why_and_what_would_work(
    provider: str, model: str | None, mode: str, duration: int, chosen: dict, message: str  # type: ignore[type-arg]
) -> None:
    with pytest.raises(OptionRefused, match=message):
        choose_model(for_provider(provider), model, mode, duration, features(**chosen))  # type: ignore[arg-type]


def test_end_frame_brush_and_camera_are_mutually_exclusive() -> None:
    check_exclusive(features(brush=True, creativity=True))
    for chosen, named in (
        ({"end_frame": True, "brush": True}, "an end frame and a motion brush"),
        ({"brush": True, "camera": True}, "a motion brush and a camera move"),
        ({"end_frame": True, "camera": False}, "an end frame and a camera move"),
    ):
        with pytest.raises(OptionRefused, match=f"only one of an end frame, a motion brush or a camera move per video; you chose {named}"):
            choose_model(for_provider("kling"), None, "pro", 5, features(**chosen))


def test_autocomplete_lists_only_models_that_take_the_other_choices() -> None:
    names = lambda offers: [o.name for o in offers]  # noqa: E731
    kling = for_provider("kling")
    assert names(model_choices(kling, features(brush=True))) == ["kling-v1-5", "kling-v1"]
    assert names(model_choices(kling, features(brush=True), mode="std")) == ["kling-v1"]
    assert names(model_choices(kling, features(creativity=True), mode="pro", duration=10)) == ["kling-v1-6", "kling-v1-5", "kling-v1"]
    assert names(model_choices(kling, features(sound=True))) == ["kling-v2-6", "kling-v3"]
    assert len(model_choices(kling, ())) == len(kling.models)
    assert model_choices(for_provider("useapi"), features(camera=True)) == []


def test_admin_price_lines_per_model_with_unconfirmed_offers_marked() -> None:
    from bot.pricing import animate_price_lines

    kling = [str(line) for line in animate_price_lines("kling")]
    assert "kling-v1: std 1, pro 2 credits per second of video; 5/10 s" in kling
    assert "kling-v3: std 1, pro 2 credits per second of video; 3–15 s" in kling
    assert "kling-v2-1-master (?): pro 4 credits per second of video; 5/10 s" in kling  # pro only, unconfirmed
    assert len(kling) == len(for_provider("kling").models)
    [modelslab] = animate_price_lines("modelslab")
    assert str(modelslab).startswith("/animate: not offered. ModelsLab is set up for Motion Control only")
    assert "不提供" in modelslab.render("zh-CN") and "ModelsLab 只接入了动作控制" in modelslab.render("zh-CN")
    assert animate_price_lines("nobody") == []
