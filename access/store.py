"""The access tables behind plain methods, used by `berth user|token` and the servers.

The commands may run while `berth up` runs on the same database: every change bumps a
`generation` counter, which a server polls cheaply and reloads the `AccessSnapshot` on
(so a revoked token stops working within a poll). Blocking by design.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from access.models import META, NAMESPACES, TOKENS, USER_NAMESPACES, USERS
from access.namespaces import Namespace, Quota
from access.policy import Scope
from access.tokens import new_token
from persistence.database import make_engine, upgrade

MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass(frozen=True)
class UserRecord:
    name: str
    role: str
    namespaces: frozenset[str]
    password_hash: str | None
    created_at: float


@dataclass(frozen=True)
class TokenRecord:
    id: str
    user: str
    namespace: str | None
    scope: Scope
    digest: str
    created_at: float
    expires_at: float | None


@dataclass(frozen=True)
class AccessSnapshot:
    """Everything a server needs to authenticate a call, read at one `generation`."""

    cluster: str
    generation: int
    users: dict[str, UserRecord]
    tokens: dict[str, TokenRecord]
    namespaces: dict[str, Namespace]


class AccessError(ValueError):
    """A change that cannot be made (unknown user, name taken...): nothing was changed."""


class AccessStore:
    def __init__(self, url: str | None = None, engine: Engine | None = None) -> None:
        self.engine = engine or make_engine(url)
        upgrade(self.engine, MIGRATIONS)
        with self.engine.begin() as c:
            known = dict(c.execute(select(META.c.key, META.c.value)).all())
            if "cluster" not in known:  # first open: this database's cluster id
                c.execute(insert(META), [{"key": "cluster", "value": secrets.token_hex(4)},
                                         {"key": "generation", "value": "0"}])

    def close(self) -> None:
        self.engine.dispose()

    # -- reads -----------------------------------------------------------------------------

    def generation(self) -> int:
        with self.engine.connect() as c:
            return int(c.execute(select(META.c.value).where(META.c.key == "generation"))
                       .scalar_one())

    def snapshot(self) -> AccessSnapshot:
        with self.engine.connect() as c:
            meta = dict(c.execute(select(META.c.key, META.c.value)).all())
            spaces: dict[str, set[str]] = {}
            for user, ns in c.execute(select(USER_NAMESPACES.c.user, USER_NAMESPACES.c.namespace)):
                spaces.setdefault(user, set()).add(ns)
            users = {r.name: UserRecord(r.name, r.role, frozenset(spaces.get(r.name, ())),
                                        r.password_hash, r.created_at)
                     for r in c.execute(select(USERS))}
            tokens = {r.id: TokenRecord(r.id, r.user, r.namespace, Scope.named(r.scope),
                                        r.digest, r.created_at, r.expires_at)
                      for r in c.execute(select(TOKENS))}
            spaces_ = {r.name: _namespace(r) for r in c.execute(select(NAMESPACES))}
        return AccessSnapshot(meta["cluster"], int(meta["generation"]), users, tokens,
                              spaces_)

    # -- changes ---------------------------------------------------------------------------

    def add_user(self, name: str, role: str, namespaces: frozenset[str],
                 password_hash: str | None, now: float) -> None:
        try:
            with self.engine.begin() as c:
                c.execute(insert(USERS).values(name=name, role=role,
                                               password_hash=password_hash, created_at=now))
                if namespaces:
                    c.execute(insert(USER_NAMESPACES),
                              [{"user": name, "namespace": ns} for ns in sorted(namespaces)])
                _bump(c)
        except IntegrityError:
            raise AccessError(f"user {name} already exists") from None

    def remove_user(self, name: str) -> int:
        """Remove a user and its tokens; how many tokens went with it."""
        with self.engine.begin() as c:
            _known_user(c, name)
            gone = c.execute(delete(TOKENS).where(TOKENS.c.user == name)).rowcount
            c.execute(delete(USER_NAMESPACES).where(USER_NAMESPACES.c.user == name))
            c.execute(delete(USERS).where(USERS.c.name == name))
            _bump(c)
        return gone

    def set_password(self, name: str, password_hash: str) -> None:
        with self.engine.begin() as c:
            _known_user(c, name)
            c.execute(update(USERS).where(USERS.c.name == name)
                      .values(password_hash=password_hash))
            _bump(c)

    def add_token(self, user: str, namespace: str | None, scope: Scope, now: float,
                  expires_at: float | None) -> tuple[str, TokenRecord]:
        """A new token for `user` (the text, shown once, and its record)."""
        with self.engine.begin() as c:
            role = _known_user(c, user)
            if namespace is not None and role != "admin":
                mine = {ns for (ns,) in c.execute(select(USER_NAMESPACES.c.namespace)
                                                  .where(USER_NAMESPACES.c.user == user))}
                if namespace not in mine:
                    raise AccessError(f"namespace {namespace}: user {user} is not in it "
                                      f"(its namespaces: {', '.join(sorted(mine)) or 'none'})")
            if scope is Scope.ADMIN and role != "admin":
                raise AccessError(f"scope admin: user {user} is not an admin")
            cluster = c.execute(select(META.c.value).where(META.c.key == "cluster")).scalar_one()
            text, token_id, digest = new_token(cluster)
            record = TokenRecord(token_id, user, namespace, scope, digest, now, expires_at)
            c.execute(insert(TOKENS).values(id=token_id, user=user, namespace=namespace,
                                            scope=str(scope), digest=digest, created_at=now,
                                            expires_at=expires_at))
            _bump(c)
        return text, record

    def revoke_token(self, token_id: str) -> None:
        with self.engine.begin() as c:
            if not c.execute(delete(TOKENS).where(TOKENS.c.id == token_id)).rowcount:
                raise AccessError(f"no token {token_id}")
            _bump(c)


    # -- namespaces and credits -------------------------------------------------------------

    def set_namespace(self, name: str, quota: Quota, now: float,
                      credits: float | None = None) -> bool:
        """Create a namespace or change its quota (`credits` only on creation: a budget
        changes by grants); True when it was created."""
        with self.engine.begin() as c:
            known = c.execute(select(NAMESPACES.c.name).where(NAMESPACES.c.name == name)
                              ).scalar_one_or_none()
            values = {"cpus": quota.cpus, "mem": quota.mem, "instances": quota.instances,
                      "jobs": quota.jobs}
            if known is None:
                c.execute(insert(NAMESPACES).values(name=name, credits=credits,
                                                    created_at=now, **values))
            else:
                c.execute(update(NAMESPACES).where(NAMESPACES.c.name == name).values(**values))
            _bump(c)
        return known is None

    def remove_namespace(self, name: str) -> None:
        with self.engine.begin() as c:
            if not c.execute(delete(NAMESPACES).where(NAMESPACES.c.name == name)).rowcount:
                raise AccessError(f"no namespace {name}")
            _bump(c)

    def grant_credits(self, name: str, amount: float, now: float) -> float:
        """Add to a namespace's budget (made on first grant); the new balance."""
        with self.engine.begin() as c:
            row = c.execute(select(NAMESPACES.c.credits).where(NAMESPACES.c.name == name)
                            ).one_or_none()
            if row is None:
                c.execute(insert(NAMESPACES).values(name=name, credits=amount, created_at=now))
                balance = amount
            else:
                balance = (row.credits or 0.0) + amount
                c.execute(update(NAMESPACES).where(NAMESPACES.c.name == name)
                          .values(credits=balance))
            _bump(c)
        return balance

    def charge(self, spent: dict[str, float]) -> dict[str, float]:
        """Take what each namespace's work used from its budget (namespaces without one
        are not charged); the new balances. Does not bump the generation: balances are
        read from `balances`, not the snapshot, so charging does not reload every server."""
        out: dict[str, float] = {}
        with self.engine.begin() as c:
            for name, amount in spent.items():
                c.execute(update(NAMESPACES).where(NAMESPACES.c.name == name,
                                                   NAMESPACES.c.credits.is_not(None))
                          .values(credits=NAMESPACES.c.credits - amount))
            for name, credits in c.execute(select(NAMESPACES.c.name, NAMESPACES.c.credits)):
                if credits is not None:
                    out[name] = credits
        return out

    def balances(self) -> dict[str, float]:
        with self.engine.connect() as c:
            return {n: v for n, v in c.execute(select(NAMESPACES.c.name, NAMESPACES.c.credits))
                    if v is not None}


def _namespace(row) -> Namespace:
    return Namespace(row.name, Quota(row.cpus, row.mem, row.instances, row.jobs), row.credits,
                     row.created_at)


def _known_user(c: Connection, name: str) -> str:
    role = c.execute(select(USERS.c.role).where(USERS.c.name == name)).scalar_one_or_none()
    if role is None:
        raise AccessError(f"no user {name}")
    return role


def _bump(c: Connection) -> None:
    generation = c.execute(select(META.c.value).where(META.c.key == "generation")).scalar_one()
    c.execute(update(META).where(META.c.key == "generation")
              .values(value=str(int(generation) + 1)))
