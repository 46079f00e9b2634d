"""Password hashes (argon2id) and a cache of recent successful checks.

An argon2 verification is meant to be slow (tens of milliseconds); a client sending HTTP
Basic on every request must not pay it each time. `PasswordChecker` remembers, per user
and stored hash, a keyed digest of the passwords that verified: a changed password or
hash (passwd) misses the cache, and the cache never holds a password itself.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher()
MIN_PASSWORD = 8


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def password_problem(password: str) -> str | None:
    if len(password) < MIN_PASSWORD:
        return f"a password needs at least {MIN_PASSWORD} characters"
    if any(ord(c) < 32 or ord(c) == 127 for c in password):
        return "a password cannot hold control characters"
    return None


class PasswordChecker:
    """`check(user, stored_hash, password)`, argon2 once per (user, hash, password)."""

    def __init__(self, max_entries: int = 4096) -> None:
        self._key = secrets.token_bytes(32)
        self._verified: dict[tuple[str, str], bytes] = {}
        self._max = max_entries

    def check(self, user: str, stored_hash: str, password: str) -> bool:
        digest = hmac.new(self._key, password.encode(), hashlib.sha256).digest()
        known = self._verified.get((user, stored_hash))
        if known is not None and hmac.compare_digest(known, digest):
            return True
        try:
            _HASHER.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        if len(self._verified) >= self._max:
            self._verified.clear()
        self._verified[(user, stored_hash)] = digest
        return True
