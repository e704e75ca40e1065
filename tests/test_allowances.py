"""Role tiers and granted credits (bot/allowances.py)."""

from __future__ import annotations

import pytest

from bot.allowances import (
    MAX_DAILY_CREDITS,
    Allowance,
    AllowanceRefused,
    Balance,
    Charge,
    LedgerEntry,
    balance_from_ledger,
    blocked_refusal,
    check_grant,
    check_take,
    check_tier,
    resolve_allowance,
    split_charge,
)
from bot.errors import Refusal

EVERYONE, NEWCOMER, SUPPORTER, PATRON, NO_VIDEOS = 1, 10, 20, 30, 40
TIERS = {NEWCOMER: 20, SUPPORTER: 200, PATRON: 500, NO_VIDEOS: 0}


def allowance(roles: list[int], *, tiers: dict[int, int] = TIERS, server: int | None = 100) -> Allowance:
    return resolve_allowance(roles, tiers, server_default=server, bot_default=50)


def test_the_highest_tier_among_the_members_roles() -> None:
    assert allowance([EVERYONE, SUPPORTER, PATRON]) == Allowance(daily=500, source="role", role_id=PATRON)
    assert allowance([PATRON, SUPPORTER]) == allowance([SUPPORTER, PATRON])  # order does not matter


def test_a_tier_can_be_lower_than_the_default() -> None:
    assert allowance([EVERYONE, NEWCOMER]) == Allowance(daily=20, source="role", role_id=NEWCOMER)


def test_without_a_tier_the_server_default_then_the_bot_default() -> None:
    assert allowance([EVERYONE]) == Allowance(daily=100, source="server")
    assert allowance([EVERYONE], server=None) == Allowance(daily=50, source="default")
    assert allowance([], tiers={}, server=None) == Allowance(daily=50, source="default")


def test_a_zero_role_blocks_whatever_the_other_roles_give() -> None:
    blocked = allowance([PATRON, NO_VIDEOS, SUPPORTER])
    assert blocked == Allowance(daily=0, source="blocked", role_id=NO_VIDEOS)
    assert blocked.blocked
    assert not allowance([PATRON]).blocked


def test_a_zero_server_default_is_not_a_block() -> None:
    none_free = allowance([EVERYONE], server=0)
    assert none_free == Allowance(daily=0, source="server") and not none_free.blocked
    balance = Balance(allowance=none_free, used_today=0, granted=30)
    assert balance.left == 30  # granted credits can still be spent
    assert split_charge(30, balance) == Charge(from_daily=0, from_granted=30)


def test_a_tier_on_everyone_applies_to_everyone() -> None:
    assert allowance([EVERYONE], tiers={EVERYONE: 70}) == Allowance(daily=70, source="role", role_id=EVERYONE)


def test_ties_are_decided_the_same_way_every_time() -> None:
    tiers = {5: 100, 3: 100}
    assert allowance([5, 3], tiers=tiers).role_id == allowance([3, 5], tiers=tiers).role_id == 3


# --- the ledger ------------------------------------------------------------------------------

TODAY, YESTERDAY = "2025-01-31", "2025-01-30"


def ledger(*entries: LedgerEntry, daily: int = 100) -> Balance:
    return balance_from_ledger(entries, today=TODAY, allowance=Allowance(daily=daily, source="server"))


def test_grants_do_not_expire_at_the_daily_reset() -> None:
    balance = ledger(LedgerEntry("grant", 40, YESTERDAY), LedgerEntry("reserve", 100, YESTERDAY))
    assert balance.used_today == 0 and balance.granted == 40
    assert balance.left == 140  # today's 100 plus yesterday's grant


def test_a_job_is_paid_from_today_first_then_from_grants() -> None:
    balance = ledger(LedgerEntry("grant", 40, YESTERDAY), LedgerEntry("reserve", 70, TODAY))
    assert balance.left == 70
    charge = split_charge(50, balance)
    assert charge == Charge(from_daily=30, from_granted=20) and charge.amount == 50
    after = ledger(
        LedgerEntry("grant", 40, YESTERDAY),
        LedgerEntry("reserve", 70, TODAY),
        LedgerEntry("reserve", 50, TODAY, from_granted=20),
    )
    assert (after.used_today, after.granted, after.left) == (100, 20, 20)


def test_a_refund_goes_back_where_it_came_from() -> None:
    spent = [LedgerEntry("grant", 40, YESTERDAY), LedgerEntry("reserve", 120, TODAY, from_granted=20)]
    assert ledger(*spent).left == 20
    refunded = ledger(*spent, LedgerEntry("refund", 120, TODAY, from_granted=20))
    assert (refunded.used_today, refunded.granted, refunded.left) == (0, 40, 140)


def test_a_commit_changes_nothing() -> None:
    reserved = [LedgerEntry("reserve", 30, TODAY)]
    assert ledger(*reserved) == ledger(*reserved, LedgerEntry("commit", 30, TODAY))


def test_yesterdays_spending_does_not_count_today() -> None:
    balance = ledger(LedgerEntry("reserve", 100, YESTERDAY), LedgerEntry("refund", 100, YESTERDAY))
    assert balance.used_today == 0 and balance.left == 100


def test_a_job_that_does_not_fit_is_not_charged() -> None:
    balance = ledger(LedgerEntry("grant", 10, YESTERDAY), LedgerEntry("reserve", 95, TODAY))
    assert balance.left == 15
    assert split_charge(16, balance) is None
    assert split_charge(15, balance) == Charge(from_daily=5, from_granted=10)
    with pytest.raises(ValueError):
        split_charge(-1, balance)


def test_a_blocked_member_cannot_spend_even_granted_credits() -> None:
    blocked = allowance([NO_VIDEOS])
    balance = balance_from_ledger([LedgerEntry("grant", 500, YESTERDAY)], today=TODAY, allowance=blocked)
    assert balance.granted == 500 and balance.left == 0
    assert split_charge(1, balance) is None
    assert split_charge(0, balance) is None


def test_a_take_removes_granted_credits_and_no_more() -> None:
    balance = ledger(LedgerEntry("grant", 40, YESTERDAY), LedgerEntry("take", 15, TODAY))
    assert balance.granted == 25
    check_take(25, granted=balance.granted, member="<@7>")
    with pytest.raises(AllowanceRefused) as refused:
        check_take(26, granted=balance.granted, member="<@7>")
    assert isinstance(refused.value, Refusal)
    assert str(refused.value) == "<@7> has only 25 granted credits; you can take at most 25."
    assert refused.value.text.render("zh-CN") == "<@7> 只有 25 赠送积分；最多只能扣除 25。"


def test_the_blocked_refusal_names_the_role_in_both_languages() -> None:
    refusal = blocked_refusal("@No videos")
    assert str(refusal) == "Your role @No videos may not make videos in this server."
    assert refusal.text.render("zh-CN") == "你的身份组 @No videos 不能在本服务器制作视频。"


@pytest.mark.parametrize("credits", [-1, MAX_DAILY_CREDITS + 1])
def test_a_tier_out_of_range_is_refused(credits: int) -> None:
    with pytest.raises(ValueError, match="between 0 and"):
        check_tier(credits)


@pytest.mark.parametrize("credits", [0, -5])
def test_a_grant_must_be_positive(credits: int) -> None:
    with pytest.raises(ValueError, match="between 1 and"):
        check_grant(credits)
    assert check_tier(0) == 0 and check_grant(1) == 1
