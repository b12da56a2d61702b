"""Retries with exponential backoff and full jitter, honouring the server's Retry-After."""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from charm_builder.llm.errors import TransientError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """``max_retries`` extra attempts; the n-th wait is uniform in [0, min(cap, base * 2**n)].

    A server's Retry-After (capped at ``max_retry_after``) replaces the backoff for that wait.
    """

    max_retries: int = 6
    base: float = 0.5
    cap: float = 30.0
    max_retry_after: float = 120.0

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based) without a Retry-After."""
        return (rng or random).uniform(0.0, min(self.cap, self.base * 2**attempt))

    def delay(self, attempt: int, error: TransientError, rng: random.Random | None = None) -> float:
        """Seconds to wait after ``error`` before retry number ``attempt``."""
        if error.retry_after is not None:
            return min(max(error.retry_after, 0.0), self.max_retry_after)
        return self.backoff(attempt, rng)


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (delta-seconds or an HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


async def with_retries(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    on_retry: Callable[[int, TransientError, float], None] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> tuple[T, int]:
    """Run ``call`` until it succeeds; retry only ``TransientError``. Returns (result, attempts).

    The last ``TransientError`` propagates once the retries are spent.
    """
    attempt = 0
    while True:
        try:
            return await call(), attempt + 1
        except TransientError as exc:
            if attempt >= policy.max_retries:
                raise
            wait = policy.delay(attempt, exc)
            if on_retry is not None:
                on_retry(attempt + 1, exc, wait)
            await sleep(wait)
            attempt += 1
