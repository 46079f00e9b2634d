"""`berth metrics record` and `berth metrics show` against a real framework: what is
recorded shows in the table, one row per group, and a refreshing table ends after
`--times`."""

from __future__ import annotations

import asyncio

import pytest
from click.testing import CliRunner

from api.framework_server import start_framework
from cli import main


@pytest.fixture
async def url(tmp_path):
    fw = await start_framework(None, "127.0.0.1", 0, db_url=f"sqlite:///{tmp_path / 'b.db'}")
    yield fw.url
    await fw.stop()


def _berth(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False, terminal_width=200)


async def test_recorded_metrics_show_in_the_table(url):
    for instance, cpu, mem in (("web-1", 0.25, 100), ("web-2", 0.75, 300)):
        for name, value in (("cpu", cpu), ("mem", mem)):
            done = await asyncio.to_thread(_berth, "metrics", "record", "--url", url, name,
                                           str(value), "--tag", f"instance={instance}")
            assert done.exit_code == 0 and "1 samples" in done.output
    shown = await asyncio.to_thread(_berth, "metrics", "show", "--url", url)
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    [web1] = [line for line in lines if "web-1" in line]
    [web2] = [line for line in lines if "web-2" in line]
    assert "0.250" in web1 and "100.000" in web1
    assert "0.750" in web2 and "300.000" in web2
    twice = await asyncio.to_thread(_berth, "metrics", "show", "--url", url, "--names", "cpu",
                                    "--agg", "max", "--group-by", "namespace", "--every",
                                    "0.1", "--times", "2")
    assert twice.exit_code == 0 and "default" in twice.output and "0.750" in twice.output


async def test_a_bad_sample_is_refused_with_the_field(url):
    done = await asyncio.to_thread(_berth, "metrics", "record", "--url", url, "cpu load", "1")
    assert done.exit_code != 0 and "resource" in done.output
