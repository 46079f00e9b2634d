"""API tokens: `berth_<cluster>_<id>_<secret>`, shown once, stored as a SHA-256 digest.

The cluster part says which cluster issued a token, so one pasted into the wrong cluster
gets a clear answer rather than "unknown"; the id is what `berth token list|revoke` name.
The secret has 256 bits of randomness, so a plain SHA-256 digest is as safe to store as a
slow hash and cheap to check on every request.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from dataclasses import dataclass

PREFIX = "berth"
_TOKEN = re.compile(r"berth_([0-9a-f]{8})_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")


@dataclass(frozen=True)
class ParsedToken:
    cluster: str
    id: str
    digest: str


class TokenError(ValueError):
    """A token that cannot be one of this cluster's: malformed, truncated, foreign."""


def new_token(cluster: str) -> tuple[str, str, str]:
    """(the token's text, its id, the digest to store)."""
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return f"{PREFIX}_{cluster}_{token_id}_{secret}", token_id, digest_of(secret)


def digest_of(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_token(text: str, cluster: str) -> ParsedToken:
    """The token in `text` (as sent, or base64 of it: JuliaRun's `jruntok`), or TokenError
    saying what is wrong with it."""
    match = _TOKEN.fullmatch(text)
    if match is None and not text.startswith(PREFIX):
        try:
            decoded = base64.b64decode(text, validate=True).decode()
        except (binascii.Error, ValueError):  # not base64, not ASCII, not UTF-8
            decoded = ""
        match = _TOKEN.fullmatch(decoded)
    if match is None:
        raise TokenError("malformed or truncated token: expected berth_<cluster>_<id>_<secret>")
    issuer, token_id, secret = match.groups()
    if issuer != cluster:
        raise TokenError(f"token of another cluster ({issuer}); this cluster is {cluster}")
    return ParsedToken(issuer, token_id, digest_of(secret))
