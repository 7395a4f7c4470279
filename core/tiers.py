"""API key tiers: the rate limit and monthly quota each sets. The one place they are defined.

The first three are the seed's PRICING_TIERS. ``unlimited`` is for a local endpoint
on one's own machine (tests, demos, a notebook calling in a loop): counted in usage
like every other key, never refused for rate or quota. ``None`` means no limit.
"""

from __future__ import annotations

TIERS: dict[str, dict[str, int | None]] = {
    "free": {"rate_limit_per_minute": 10, "requests_per_month": 1_000},
    "pro": {"rate_limit_per_minute": 100, "requests_per_month": 100_000},
    "enterprise": {"rate_limit_per_minute": 1_000, "requests_per_month": None},
    "unlimited": {"rate_limit_per_minute": None, "requests_per_month": None},
}
DEFAULT_TIER = "free"  # what a key gets when neither it nor its deployment names a tier
LOCAL_TIER = "unlimited"  # what the desktop app offers first for an endpoint on this machine


def tier_limits(tier: str) -> tuple[int | None, int | None]:
    """(requests per minute, requests per month) for a tier; an unknown name gets the default's."""
    limits = TIERS.get(tier, TIERS[DEFAULT_TIER])
    return limits["rate_limit_per_minute"], limits["requests_per_month"]


def tier_label(tier: str) -> str:
    """The tier and its limits, for people: "pro — 100/min, 100,000/month"."""
    per_minute, per_month = tier_limits(tier)
    if per_minute is None and per_month is None:
        return f"{tier} — no rate limit, no quota (for this machine)"
    minute = "no rate limit" if per_minute is None else f"{per_minute:,}/min"
    month = "no monthly quota" if per_month is None else f"{per_month:,}/month"
    return f"{tier} — {minute}, {month}"
