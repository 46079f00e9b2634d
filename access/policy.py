"""Who a caller is and what it may do: roles, token scopes, namespaces.

A password acts with its user's whole rights: an `admin` everything everywhere, a `user`
reads and writes in its namespaces. A token acts with at most its scope and, when it names
one, in that namespace only. A local caller of a cluster with no users configured is
trusted as an admin (the embedded default, which listens on loopback only).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

ROLES = ("admin", "user")


class Scope(IntEnum):
    READ = 1
    WRITE = 2
    ADMIN = 3

    @classmethod
    def named(cls, name: str) -> Scope:
        try:
            return cls[name.upper()]
        except KeyError:
            raise ValueError(f"{name!r} is not a scope: one of read, write, admin") from None

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. `namespaces` None: every namespace (admins)."""

    name: str
    role: str
    scope: Scope
    namespaces: frozenset[str] | None
    token_id: str | None = None

    def missing(self, scope: Scope, namespace: str | None = None) -> str | None:
        """What this caller lacks to act with `scope` (in `namespace`), or None."""
        if scope > self.scope:
            via = f"token {self.token_id}" if self.token_id else f"user {self.name}"
            return f"{via} has scope {self.scope}; this needs {scope}"
        if namespace is not None and self.namespaces is not None \
                and namespace not in self.namespaces:
            mine = ", ".join(sorted(self.namespaces)) or "none"
            return f"namespace {namespace}: {self.name} may act only in {mine}"
        return None

    def sees(self, namespace: str) -> bool:
        return self.namespaces is None or namespace in self.namespaces


LOCAL = Principal("local", "admin", Scope.ADMIN, None)
INTERNAL = Principal("berth-internal", "admin", Scope.ADMIN, None)


def of_user(name: str, role: str, namespaces: frozenset[str]) -> Principal:
    """A user signed in with its password."""
    if role == "admin":
        return Principal(name, role, Scope.ADMIN, None)
    return Principal(name, role, Scope.WRITE, namespaces)


def of_token(user: Principal, token_id: str, scope: Scope, namespace: str | None) -> Principal:
    """A token's rights: its user's, narrowed to the token's scope and namespace."""
    spaces = user.namespaces
    if namespace is not None:
        spaces = frozenset({namespace}) if user.sees(namespace) else frozenset()
    return Principal(user.name, user.role, min(scope, user.scope), spaces, token_id)
