"""The audit log: writes through every surface (allowed or refused), the CLI's changes,
read back by admins only, pruned to its retention."""

from __future__ import annotations

import json

import aiohttp
import pytest
from click.testing import CliRunner

from access import audit
from access.audit import AuditEntry
from access.store import AccessStore
from api.framework_server import start_framework
from cli import main
from tests.master_fixtures import SchedulerClient, start_test_master

TASK = json.dumps({"id": "sleepy", "dockerimage": "busybox", "mem": "64", "cpus": "0.1"})


def berth(data_dir, *args: str, stdin: str | None = None) -> str:
    result = CliRunner().invoke(main, [*args, "--data-dir", str(data_dir)], input=stdin,
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": aiohttp.encode_basic_auth(user, password),
            "Content-Type": "application/json"}


@pytest.fixture
async def framework(tmp_path):
    berth(tmp_path, "user", "add", "root", "--admin", "--password-stdin", stdin="rootpass1\n")
    berth(tmp_path, "user", "add", "bob", "--password-stdin", stdin="bobspass1\n")
    fw = await start_framework(None, "127.0.0.1", 0,
                               db_url=f"sqlite:///{(tmp_path / 'berth.db').resolve()}")
    yield fw
    await fw.stop()


async def test_writes_allowed_or_refused_are_in_the_log_and_only_admins_read_it(framework):
    url = framework.url
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{url}/client/task", data=TASK, headers=basic("bob", "bobspass1")):
            pass
        async with s.post(f"{url}/client/task?jruntok=berth_secret", data=TASK,
                          headers={"Content-Type": "application/json"}):
            pass  # 401: anonymous, and the query string is not kept
        async with s.get(f"{url}/client/task", headers=basic("bob", "bobspass1")):
            pass  # a read: not audited
        async with s.get(f"{url}/v1/audit", headers=basic("bob", "bobspass1")) as r:
            assert r.status == 403
        async with s.get(f"{url}/v1/audit", headers=basic("root", "rootpass1")) as r:
            entries = (await r.json())["entries"]
    by_surface = {}
    for e in entries:
        by_surface.setdefault(e["surface"], []).append(e)
    writes = [(e["principal"], e["action"], e["status"]) for e in by_surface["framework"]]
    assert ("bob", "POST /client/task", 202) in writes
    assert ("anonymous", "POST /client/task", 401) in writes
    assert all("jruntok" not in e["action"] and "secret" not in e["action"] for e in entries)
    assert all(e["action"] != "GET /client/task" for e in entries)
    cli = [e["action"] for e in by_surface["cli"]]
    assert "user add root" in cli and "user add bob" in cli


async def test_the_master_notes_subscriptions_and_refusals(tmp_path):
    berth(tmp_path, "user", "add", "alice", "--password-stdin", stdin="alicepass\n")
    master = await start_test_master(tmp_path)
    try:
        fw = await SchedulerClient.subscribe(master.url, "alices", headers=basic("alice",
                                                                                  "alicepass"))
        async with aiohttp.ClientSession() as s, s.post(f"{master.url}/agent/v1/register",
                                                        json={}) as r:
            assert r.status == 401
        await fw.close()
        await master.trail.flush()
        entries = audit.read(master.access.store.engine)
    finally:
        await master.stop()
    notes = {(e.principal, e.status, e.detail.split(" ")[0]) for e in entries
             if e.surface == "master"}
    assert ("alice", 200, "SUBSCRIBE") in notes
    assert ("anonymous", 401, "") in notes


def test_old_entries_are_pruned(tmp_path):
    store = AccessStore(f"sqlite:///{tmp_path / 'a.db'}")
    audit.append(store.engine, [AuditEntry(float(t), "x", "", "cli", f"a{t}", 200)
                                for t in range(10)])
    assert audit.prune(store.engine, before=5.0) == 5
    assert [e.action for e in audit.read(store.engine)] == [f"a{t}" for t in range(9, 4, -1)]
    store.close()
