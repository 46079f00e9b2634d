"""`Idempotency-Key` for task submissions: a POST retried after a dropped connection gets
the first answer instead of creating a second task.

As Stripe and the IETF draft (draft-ietf-httpapi-idempotency-key-header) have it: the
client sends a fresh unique key with each new request and the same key with each retry.
A key seen before with the same request (path and body bytes) answers for the task that
request created; with another request it is a `422`, since the client is confused about
what it asked. Only accepted submissions are remembered: a refused one did nothing, and a
retry is refused again for the same reason.

Keys are written with their task in one transaction (framework.store) and kept for
`IDEMPOTENCY_TTL`. Retries that arrive while the first request is still being written
wait for it, so one key never creates two tasks even within one batch.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable

from framework.store import IDEMPOTENCY_TTL, IdempotencyKey
from offers.problems import FieldProblem

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
MEMORY = 10_000  # keys answered from memory; older ones are looked up in the store


class KeyReused(Exception):
    """The key was first used for a different request."""


def key_problem(key: str) -> FieldProblem | None:
    """Why a header value cannot be a key: 1 to 255 visible ASCII characters."""
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        return FieldProblem(HEADER, f"is {len(key)} characters long; "
                                    f"1 to {MAX_KEY_LENGTH} are allowed")
    if not all("!" <= c <= "~" for c in key):
        return FieldProblem(HEADER, "must be visible ASCII characters (e.g. a UUID)")
    return None


def fingerprint(path: str, body: bytes) -> str:
    """What identifies "the same request": the route and the exact body bytes."""
    return hashlib.sha256(path.encode() + b"\n" + body).hexdigest()


class Idempotency:
    """Keys already answered (recent ones in memory, all in the store) and keys whose
    first request is still being written."""

    def __init__(self, lookup: Callable[[str, float], Awaitable[IdempotencyKey | None]],
                 clock: Callable[[], float]) -> None:
        self._lookup = lookup
        self._clock = clock
        self._recent: dict[str, IdempotencyKey] = {}  # oldest first
        self._inflight: dict[str, asyncio.Future] = {}

    async def submit(self, key: str, fingerprint: str,
                     create: Callable[[], Awaitable[str]]) -> tuple[str, bool]:
        """`(task id, replayed)`: the task this key created, or `create()`'s new one.
        Raises KeyReused when the key belongs to another request."""
        while (pending := self._inflight.get(key)) is not None:
            await asyncio.shield(pending)  # resolves however the first request ends
        now = self._clock()
        known = self._recent.get(key)
        if known is not None and known.created_at < now - IDEMPOTENCY_TTL:
            del self._recent[key]
            known = None
        if known is None:
            done = asyncio.get_running_loop().create_future()
            self._inflight[key] = done
            try:
                known = await self._lookup(key, now)
                if known is None:
                    task_id = await create()
                    self._remember(IdempotencyKey(key, fingerprint, task_id, now))
                    return task_id, False
                self._remember(known)
            finally:
                del self._inflight[key]
                done.set_result(None)
        if known.fingerprint != fingerprint:
            raise KeyReused(key)
        return known.task_id, True

    def _remember(self, known: IdempotencyKey) -> None:
        self._recent[known.key] = known
        while len(self._recent) > MEMORY:
            del self._recent[next(iter(self._recent))]
