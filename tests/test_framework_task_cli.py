"""`berth task submit | list | kill | reshuffle` against a framework on loopback."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from api.framework_server import start_framework

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def framework(tmp_path):
    fw = await start_framework(None, "127.0.0.1", 0, db_url=f"sqlite:///{tmp_path / 'b.db'}")
    yield fw
    await fw.stop()


async def berth(*args: str, url: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli", "task", *args, "--url", url, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    out, _ = await proc.communicate()
    return proc.returncode, out.decode()


async def test_submit_list_kill_reshuffle(framework, tmp_path):
    spec = tmp_path / "stress60mb.json"
    spec.write_text(json.dumps({"id": "stress60", "dockerimage": "stress", "mem": "100"}))
    code, out = await berth("submit", str(spec), url=framework.url)
    assert code == 0 and out.startswith("Run task: stress60 (stress60-")
    code, out = await berth("list", url=framework.url)
    assert code == 0 and "stress60-" in out and "PENDING" in out and "waiting for an" in out
    code, out = await berth("kill", "stress", url=framework.url)
    assert code == 0 and out.startswith("Kill task: stress60-")
    code, out = await berth("kill", "stress", url=framework.url)
    assert code == 1 and "404" in out
    code, out = await berth("reshuffle", url=framework.url)
    assert code == 0 and out.strip() == "Reshuffle tasks"


async def test_bad_file_reports_the_field(framework, tmp_path):
    spec = tmp_path / "bad.json"
    spec.write_text(json.dumps({"id": "x", "dockerimage": "y", "mem": -1}))
    code, out = await berth("submit", str(spec), url=framework.url)
    assert code == 1 and "mem:" in out
