"""`berth user ...` and `berth token ...`: the access tables of a data dir or database,
whether or not a server runs on it (a running one picks changes up within a second)."""

from __future__ import annotations

import getpass
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from access import audit
from access.audit import AuditEntry
from access.names import namespace_problem, user_problem
from access.passwords import hash_password, password_problem
from access.policy import Scope
from access.store import AccessError, AccessStore

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def duration_seconds(text: str) -> float | None:
    """'90s', '45m', '12h', '30d', '2w' in seconds; 'never' is None."""
    if text == "never":
        return None
    match = re.fullmatch(r"(\d+)([smhdw])", text.strip())
    if match is None or int(match.group(1)) == 0:
        raise click.BadParameter(f"{text!r} is not a duration: a positive number with s, m, "
                                 "h, d or w (e.g. 12h, 30d), or 'never'", param_hint="--expires")
    return int(match.group(1)) * _UNITS[match.group(2)]


def _database(command):
    command = click.option("--db", "db_url", default=None,
                           help="SQLAlchemy URL [default: sqlite:///<data-dir>/berth.db]")(command)
    return click.option("--data-dir", default="./data", show_default=True,
                        type=click.Path(file_okay=False, path_type=Path))(command)


def _store(data_dir: Path, db_url: str | None) -> AccessStore:
    from persistence.database import default_url
    return AccessStore(db_url or default_url(data_dir))


def _audit(store: AccessStore, action: str, detail: str = "") -> None:
    """The change, in the audit log beside the servers' (`GET /v1/audit`)."""
    audit.append(store.engine, [AuditEntry(time.time(), f"cli:{getpass.getuser()}", "local",
                                           "cli", action, 200, detail)])


def _changed(change, *args):
    """Make a change to the access store; what it refuses is the command's error."""
    try:
        return change(*args)
    except AccessError as exc:
        raise click.ClickException(str(exc)) from None


def _when(ts: float | None) -> str:
    if ts is None:
        return "never"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _checked(problem: str | None, hint: str) -> None:
    if problem:
        raise click.BadParameter(problem, param_hint=hint)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    _checked(password_problem(password), "password")
    return password


@click.group("user")
def user_group() -> None:
    """Users: roles (admin, user), password hashes and namespaces."""


@user_group.command("add")
@click.argument("name")
@click.option("--admin", is_flag=True, help="Every scope in every namespace.")
@click.option("--namespace", "namespaces", multiple=True,
              help="A namespace the user acts in (repeatable) [default: default].")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@_database
def user_add(name: str, admin: bool, namespaces: tuple[str, ...], password_stdin: bool,
             data_dir: Path, db_url: str | None) -> None:
    _checked(user_problem(name), "NAME")
    for ns in namespaces:
        _checked(namespace_problem(ns), "--namespace")
    spaces = frozenset(namespaces) or (frozenset() if admin else frozenset({"default"}))
    password = _read_password(password_stdin)
    store = _store(data_dir, db_url)
    _changed(store.add_user, name, "admin" if admin else "user", spaces,
             hash_password(password), time.time())
    _audit(store, f"user add {name}", f"role {'admin' if admin else 'user'}; namespaces "
                                      f"{', '.join(sorted(spaces)) or 'all'}")
    click.echo(f"user {name} added ({'admin' if admin else 'user'}"
               + (f"; namespaces {', '.join(sorted(spaces))}" if spaces else "") + ")")


@user_group.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the new password from stdin.")
@_database
def user_passwd(name: str, password_stdin: bool, data_dir: Path, db_url: str | None) -> None:
    password = _read_password(password_stdin)
    store = _store(data_dir, db_url)
    _changed(store.set_password, name, hash_password(password))
    _audit(store, f"user passwd {name}")
    click.echo(f"password of {name} changed")


@user_group.command("remove")
@click.argument("name")
@_database
def user_remove(name: str, data_dir: Path, db_url: str | None) -> None:
    store = _store(data_dir, db_url)
    tokens = _changed(store.remove_user, name)
    _audit(store, f"user remove {name}", f"{tokens} token(s) revoked with it")
    click.echo(f"user {name} removed, with {tokens} token(s)")


@user_group.command("list")
@_database
def user_list(data_dir: Path, db_url: str | None) -> None:
    snap = _store(data_dir, db_url).snapshot()
    table = Table("NAME", "ROLE", "NAMESPACES", "TOKENS", "CREATED")
    for user in sorted(snap.users.values(), key=lambda u: u.name):
        tokens = sum(1 for t in snap.tokens.values() if t.user == user.name)
        spaces = "all" if user.role == "admin" else ", ".join(sorted(user.namespaces))
        table.add_row(user.name, user.role, spaces, str(tokens), _when(user.created_at))
    Console().print(table)


@click.group("token")
def token_group() -> None:
    """API tokens: shown once, stored hashed, with a scope, a namespace and an expiry."""


@token_group.command("create")
@click.option("--user", "user", required=True)
@click.option("--namespace", default=None, help="Act only in this namespace.")
@click.option("--scope", default="write", show_default=True,
              type=click.Choice(["read", "write", "admin"]))
@click.option("--expires", default="30d", show_default=True,
              help="Lifetime: e.g. 12h, 30d, 2w, or 'never'.")
@_database
def token_create(user: str, namespace: str | None, scope: str, expires: str, data_dir: Path,
                 db_url: str | None) -> None:
    """Print a new token; the token alone is the last line (keep it: it is not stored)."""
    if namespace is not None:
        _checked(namespace_problem(namespace), "--namespace")
    lifetime = duration_seconds(expires)
    now = time.time()
    store = _store(data_dir, db_url)
    text, record = _changed(store.add_token, user, namespace, Scope.named(scope), now,
                            None if lifetime is None else now + lifetime)
    _audit(store, f"token create {record.id}", f"user {user}; scope {record.scope}")
    click.echo(f"token {record.id} for {user}: scope {record.scope}, namespace "
               f"{record.namespace or 'all of the user'}, expires {_when(record.expires_at)}")
    click.echo(text)


@token_group.command("list")
@click.option("--user", "user", default=None, help="Only this user's tokens.")
@_database
def token_list(user: str | None, data_dir: Path, db_url: str | None) -> None:
    snap = _store(data_dir, db_url).snapshot()
    now = time.time()
    table = Table("ID", "USER", "SCOPE", "NAMESPACE", "CREATED", "EXPIRES")
    for t in sorted(snap.tokens.values(), key=lambda t: (t.user, t.created_at)):
        if user is not None and t.user != user:
            continue
        expiry = _when(t.expires_at)
        if t.expires_at is not None and t.expires_at <= now:
            expiry += " (expired)"
        table.add_row(t.id, t.user, str(t.scope), t.namespace or "-", _when(t.created_at), expiry)
    Console().print(table)


@token_group.command("revoke")
@click.argument("token_id")
@_database
def token_revoke(token_id: str, data_dir: Path, db_url: str | None) -> None:
    store = _store(data_dir, db_url)
    _changed(store.revoke_token, token_id)
    _audit(store, f"token revoke {token_id}")
    click.echo(f"token {token_id} revoked")


@click.group("namespace")
def namespace_group() -> None:
    """Namespaces: quotas on what each may hold at once, and a credit budget."""


@namespace_group.command("set")
@click.argument("name")
@click.option("--cpus", type=float, default=None, help="At most this many cpus in use.")
@click.option("--mem", type=float, default=None, help="At most this much memory (MiB).")
@click.option("--instances", type=int, default=None, help="At most this many live instances.")
@click.option("--jobs", type=int, default=None, help="At most this many jobs.")
@_database
def namespace_set(name: str, cpus: float | None, mem: float | None, instances: int | None,
                  jobs: int | None, data_dir: Path, db_url: str | None) -> None:
    """Create a namespace or set its quota (an option left out: no limit on it)."""
    from access.namespaces import Quota

    _checked(namespace_problem(name), "NAME")
    quota = Quota(cpus, mem, instances, jobs)
    for field, problem in quota.problems():
        raise click.BadParameter(problem, param_hint=f"--{field}")
    store = _store(data_dir, db_url)
    created = store.set_namespace(name, quota, time.time())
    limits = ", ".join(f"{k} {v:g}" for k, v in vars(quota).items() if v is not None)
    _audit(store, f"namespace set {name}", limits or "no limits")
    click.echo(f"namespace {name} {'created' if created else 'changed'}: "
               f"{limits or 'no limits'}")


@namespace_group.command("remove")
@click.argument("name")
@_database
def namespace_remove(name: str, data_dir: Path, db_url: str | None) -> None:
    """Forget a namespace's quota and budget (its work stays, unlimited)."""
    store = _store(data_dir, db_url)
    _changed(store.remove_namespace, name)
    _audit(store, f"namespace remove {name}")
    click.echo(f"namespace {name} removed")


@namespace_group.command("list")
@_database
def namespace_list(data_dir: Path, db_url: str | None) -> None:
    snap = _store(data_dir, db_url).snapshot()
    table = Table("NAME", "CPUS", "MEM", "INSTANCES", "JOBS", "CREDITS")

    def shown(v: float | None) -> str:
        return "-" if v is None else f"{v:g}"

    for ns in sorted(snap.namespaces.values(), key=lambda n: n.name):
        q = ns.quota
        table.add_row(ns.name, shown(q.cpus), shown(q.mem), shown(q.instances), shown(q.jobs),
                      "-" if ns.credits is None else f"{ns.credits:.2f}")
    Console().print(table)


@click.group("credits")
def credits_group() -> None:
    """Credits (ConPaaS): one is an hour of one unit of capacity (default 1 cpu + 1 GiB)."""


@credits_group.command("grant")
@click.argument("namespace")
@click.argument("amount", type=float)
@_database
def credits_grant(namespace: str, amount: float, data_dir: Path, db_url: str | None) -> None:
    """Add AMOUNT credits to NAMESPACE's budget (giving it one if it had none)."""
    _checked(namespace_problem(namespace), "NAMESPACE")
    if amount != amount or amount <= 0 or amount == float("inf"):
        raise click.BadParameter(f"must be a number > 0, not {amount}", param_hint="AMOUNT")
    store = _store(data_dir, db_url)
    balance = store.grant_credits(namespace, amount, time.time())
    _audit(store, f"credits grant {namespace}", f"+{amount:g}, balance {balance:.2f}")
    click.echo(f"namespace {namespace}: +{amount:g} credits, balance {balance:.2f}")
