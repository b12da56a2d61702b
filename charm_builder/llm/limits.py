"""Per-model concurrency limit plus requests-per-minute and tokens-per-minute limiters."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class TokenBucket:
    """A bucket of ``per_minute`` units refilled continuously; ``acquire(n)`` waits for n units.

    Requests larger than the bucket are let through once it is full, so they cannot deadlock.
    Waiters are served in arrival order (one lock), which keeps the limiter fair.
    """

    def __init__(self, per_minute: float, clock=time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._level = float(per_minute)
        self._clock = clock
        self._stamp = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._level = min(self.capacity, self._level + (now - self._stamp) * self.rate)
        self._stamp = now

    async def acquire(self, amount: float = 1.0) -> None:
        """Take ``amount`` units, waiting as long as the refill rate requires."""
        amount = min(float(amount), self.capacity)
        async with self._lock:
            self._refill()
            while self._level < amount:
                await asyncio.sleep((amount - self._level) / self.rate)
                self._refill()
            self._level -= amount

    def refund(self, amount: float) -> None:
        """Give back units that were reserved but not used (e.g. an over-estimate of tokens)."""
        self._refill()
        self._level = min(self.capacity, self._level + amount)

    def charge(self, amount: float) -> None:
        """Take units without waiting (may go negative; later acquirers wait it off)."""
        self._refill()
        self._level -= amount


class ModelLimiter:
    """Caps one model's in-flight requests, requests per minute and tokens per minute."""

    def __init__(self, concurrency: int, rpm: int | None = None, tpm: int | None = None) -> None:
        self.concurrency = concurrency
        self._sem = asyncio.Semaphore(concurrency)
        self._rpm = TokenBucket(rpm) if rpm else None
        self._tpm = TokenBucket(tpm) if tpm else None

    @property
    def counts_tokens(self) -> bool:
        """True when a TPM cap applies (only then does a request's token estimate matter)."""
        return self._tpm is not None

    @asynccontextmanager
    async def slot(self, estimated_tokens: int = 0) -> AsyncIterator[None]:
        """Hold one concurrency slot; before that, pay one request and the token estimate."""
        if self._rpm is not None:
            await self._rpm.acquire(1)
        if self._tpm is not None:
            await self._tpm.acquire(max(estimated_tokens, 1))
        async with self._sem:
            yield

    def settle_tokens(self, estimated: int, actual: int) -> None:
        """Correct the TPM bucket once the real token count of a request is known."""
        if self._tpm is None:
            return
        diff = actual - max(estimated, 1)
        if diff > 0:
            self._tpm.charge(diff)
        elif diff < 0:
            self._tpm.refund(-diff)


_CJK = re.compile("[\u3000-\u9fff\uac00-\ud7af\uff00-\uffef]")


def prompt_tokens(messages: list[dict[str, str]]) -> int:
    """Rough token count of chat messages: 4 characters a token, one per CJK character, 4 per message."""
    total = 0
    for m in messages:
        text = m["content"]
        cjk = 0 if text.isascii() else len(_CJK.findall(text))
        total += cjk + (len(text) - cjk) // 4 + 4
    return total


def estimate_tokens(messages: list[dict[str, str]], max_tokens: int | None) -> int:
    """Rough token count of a request (``prompt_tokens``) plus the reply budget."""
    return prompt_tokens(messages) + (max_tokens or 256)
