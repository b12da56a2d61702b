"""Retry policy (backoff, jitter, Retry-After) and the RPM/TPM token buckets, with fake clocks."""

from __future__ import annotations

import asyncio
import random

import pytest

from charm_builder.llm.errors import TransientError
from charm_builder.llm.limits import TokenBucket
from charm_builder.llm.retry import RetryPolicy, parse_retry_after, with_retries


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # in the past
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    policy = RetryPolicy(base=0.5, cap=4.0)
    rng = random.Random(1)
    for attempt, bound in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (8, 4.0)]:
        waits = [policy.backoff(attempt, rng) for _ in range(200)]
        assert all(0.0 <= w <= bound for w in waits)
        assert max(waits) > bound * 0.8  # jitter spreads over the whole range


def test_with_retries_honours_retry_after_and_gives_up() -> None:
    slept: list[float] = []
    calls = {"n": 0}

    async def fake_sleep(s: float) -> None:
        slept.append(s)

    async def flaky() -> str:
        calls["n"] += 1
        if calls["n"] == 1:
            raise TransientError("429", status=429, retry_after=7.5)
        if calls["n"] == 2:
            raise TransientError("500", status=500)
        return "ok"

    result, attempts = asyncio.run(with_retries(flaky, RetryPolicy(base=0.1, cap=1.0), sleep=fake_sleep))
    assert (result, attempts) == ("ok", 3)
    assert slept[0] == 7.5 and 0.0 <= slept[1] <= 0.2

    async def always() -> str:
        raise TransientError("down", status=503)

    with pytest.raises(TransientError):
        asyncio.run(with_retries(always, RetryPolicy(max_retries=2), sleep=fake_sleep))


def test_retry_after_is_capped() -> None:
    assert RetryPolicy(max_retry_after=60).delay(0, TransientError("x", retry_after=3600)) == 60


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_token_bucket_waits_for_refill(monkeypatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr("charm_builder.llm.limits.asyncio.sleep", clock.sleep)
    bucket = TokenBucket(per_minute=60, clock=clock)  # 1 unit per second

    async def go() -> None:
        for _ in range(60):
            await bucket.acquire(1)  # the full bucket: no waiting
        assert clock.sleeps == []
        await bucket.acquire(1)
        await bucket.acquire(5)

    asyncio.run(go())
    assert clock.sleeps == [pytest.approx(1.0), pytest.approx(5.0)]


def test_token_bucket_refund_and_oversized_requests(monkeypatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr("charm_builder.llm.limits.asyncio.sleep", clock.sleep)
    bucket = TokenBucket(per_minute=600, clock=clock)  # 10 per second

    async def go() -> None:
        await bucket.acquire(500)
        bucket.refund(400)  # the request used fewer tokens than estimated
        await bucket.acquire(500)
        assert clock.sleeps == []
        await bucket.acquire(10_000)  # larger than the bucket: waits for a full bucket, no deadlock

    asyncio.run(go())
    assert clock.sleeps == [pytest.approx(60.0)]  # empty bucket refilled to its 600-unit capacity
