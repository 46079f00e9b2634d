"""From an `Authorization` header (or JuliaRun's `jruntok`) to a `Principal`, or the reason
it is refused. Pure: the snapshot, the password checker and the clock are given."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from access.passwords import PasswordChecker
from access.policy import INTERNAL, LOCAL, Principal, of_token, of_user
from access.store import AccessSnapshot
from access.tokens import TokenError, parse_token


@dataclass(frozen=True)
class Refused:
    """Not authenticated (answered 401), and why."""

    reason: str


class Authenticator:
    def __init__(self, snapshot: AccessSnapshot, clock: Callable[[], float],
                 passwords: PasswordChecker | None = None, internal: str | None = None) -> None:
        """`internal`: a bearer secret made by the process for its own roles (`berth up`'s
        framework and agent talking to its master), never stored."""
        self.snapshot = snapshot
        self.clock = clock
        self.passwords = passwords or PasswordChecker()
        self.internal = internal

    @property
    def enabled(self) -> bool:
        """Credentials are configured: every caller must present some."""
        return bool(self.snapshot.users)

    def authenticate(self, authorization: str | None, token: str | None = None
                     ) -> Principal | Refused:
        if authorization:
            scheme, _, value = authorization.strip().partition(" ")
            value = value.strip()
            if scheme.lower() == "basic":
                return self._basic(value)
            if scheme.lower() == "bearer":
                return self._bearer(value)
            return Refused(f"unsupported Authorization scheme {scheme[:20]!r}: "
                           "use Basic or Bearer")
        if token:
            return self._bearer(token)
        if not self.enabled:
            return LOCAL
        return Refused("authentication required: HTTP Basic (user:password) or a Bearer token")

    def _basic(self, value: str) -> Principal | Refused:
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return Refused("malformed Basic credentials: expected base64 of user:password")
        name, colon, password = decoded.partition(":")
        if not colon:
            return Refused("malformed Basic credentials: no ':' between user and password")
        user = self.snapshot.users.get(name)
        if user is None or user.password_hash is None \
                or not self.passwords.check(name, user.password_hash, password):
            return Refused("wrong user name or password")
        return of_user(user.name, user.role, user.namespaces)

    def _bearer(self, text: str) -> Principal | Refused:
        if self.internal is not None and hmac.compare_digest(text.encode(),
                                                             self.internal.encode()):
            return INTERNAL
        try:
            parsed = parse_token(text, self.snapshot.cluster)
        except TokenError as exc:
            return Refused(str(exc))
        record = self.snapshot.tokens.get(parsed.id)
        if record is None or not hmac.compare_digest(record.digest, parsed.digest):
            return Refused(f"token {parsed.id} is not valid (revoked or never issued)")
        if record.expires_at is not None and self.clock() >= record.expires_at:
            return Refused(f"token {parsed.id} has expired")
        user = self.snapshot.users.get(record.user)
        if user is None:
            return Refused(f"token {parsed.id} belongs to a removed user")
        return of_token(of_user(user.name, user.role, user.namespaces), record.id,
                        record.scope, record.namespace)
