"""The names people choose for users and namespaces, checked before anything is stored.

A namespace appears in URLs (`/v1/namespaces/{ns}`) and in container labels, so it is a
DNS label as in Kubernetes: lower-case letters, digits and '-', at most 63 characters. A
user name may also hold '.', '_' and '@' (e-mail-like logins), never a control character,
a space or a ':' (HTTP Basic splits on the first ':').
"""

from __future__ import annotations

import re

from offers.task import DEFAULT_NAMESPACE, NAMESPACE_PATTERN

__all__ = ["DEFAULT_NAMESPACE", "namespace_problem", "user_problem"]

_NAMESPACE = re.compile(NAMESPACE_PATTERN)
_USER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


def namespace_problem(name: str) -> str | None:
    """Why `name` cannot be a namespace, or None."""
    if not _NAMESPACE.fullmatch(name):
        return (f"{name!r} is not a namespace name: 1-63 lower-case letters, digits or '-', "
                "starting and ending with a letter or digit")
    return None


def user_problem(name: str) -> str | None:
    """Why `name` cannot be a user name, or None."""
    if not _USER.fullmatch(name):
        return (f"{name!r} is not a user name: 1-64 letters, digits, '.', '_', '@' or '-', "
                "starting with a letter or digit")
    return None
