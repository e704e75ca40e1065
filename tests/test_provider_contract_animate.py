"""Image-to-video (/animate) for every provider that offers it, against its emulator.

The fixtures are the Motion Control contract suite's (tests/test_provider_contract.py); the cases
with `animate=True` run here too.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.errors import InputRejected
from bot.providers.base import SubmitRequest, TaskStatus
from tests import test_provider_contract as contract
from tests.animate_requests import planned
from tests.contract import ProviderCase
from tests.deployment import deployment_downloader
from tests.test_provider_contract import CASES, poll_to_end

# the Motion Control suite's fixtures, used as they are
local_server = contract.local_server
world = contract.world

ANIMATE_CASES = [c for c in CASES if c.animate]


@pytest.fixture(params=ANIMATE_CASES, ids=[c.name for c in ANIMATE_CASES])
def case(request: pytest.FixtureRequest) -> ProviderCase:
    return request.param


def options_for(name: str) -> dict[str, object]:
    # each provider's cheapest way to use a distinctive option it offers
    return {"brush": True, "public_url": True} if name in ("kling", "goapi") else {"end": True}


async def test_image_to_video_by_polling(world, tmp_path: Path) -> None:
    emulator, provider, inputs, _ = world
    request = planned(inputs.root, provider.name, base_url=inputs.base_url, prompt="waves", **options_for(provider.name))
    task = await provider.submit(SubmitRequest(job_id="anim001", request=request))
    final = await poll_to_end(provider, task)
    assert final.status is TaskStatus.SUCCEEDED, final
    async with deployment_downloader(**{f"{provider.name}_base_url": emulator.base_url}) as downloader:
        size = await provider.download(final.result_url or "", tmp_path / "out.mp4", downloader)
    assert size > 1000


async def test_image_to_video_by_callback(world) -> None:
    emulator, provider, inputs, sink = world
    request = planned(inputs.root, provider.name, base_url=inputs.base_url, **options_for(provider.name))
    job_id = "anim002"
    task = await provider.submit(SubmitRequest(job_id=job_id, request=request, callback_url=f"{sink.url}/{provider.name}/{job_id}"))
    final = await poll_to_end(provider, task)
    assert final.status is TaskStatus.SUCCEEDED
    await asyncio.wait_for(sink.arrived.wait(), 5)
    await asyncio.sleep(0.2)
    parsed = [provider.parse_callback(headers, body) for headers, body in sink.received]
    # the callback's task id is the one the bot keeps, so the engine matches it to the job
    assert parsed[-1].task_id == task.task_id


async def test_a_camera_move_reaches_the_provider_or_is_refused_before_sending(world, case: ProviderCase) -> None:
    emulator, provider, inputs, _ = world
    from bot.animate.refusals import OptionRefused

    try:
        request = planned(inputs.root, provider.name, base_url=inputs.base_url, camera="zoom in", mode="pro", model="kling-v1-5")
    except OptionRefused:
        assert provider.name == "useapi"  # no camera control documented: refused by the plan, nothing sent
        return
    task = await provider.submit(SubmitRequest(job_id="anim003", request=request))
    assert (await poll_to_end(provider, task)).status is TaskStatus.SUCCEEDED


async def test_the_emulator_enforces_the_one_of_rule(world) -> None:
    """A body with an end frame and a camera move is refused by the stand-in, as the provider would."""
    emulator, provider, inputs, _ = world
    request = planned(inputs.root, provider.name, base_url=inputs.base_url, end=True, model="kling-v1-5", mode="pro")
    from bot.animate.models import CameraSpec

    # forced past the plan's own check (model_construct skips the validator) to reach the emulator
    broken = request.model_construct(**{**dict(request), "camera": CameraSpec(move="zoom in", strength=5)})
    with pytest.raises(InputRejected):
        await provider.submit(SubmitRequest.model_construct(job_id="anim004", request=broken, callback_url=None))
