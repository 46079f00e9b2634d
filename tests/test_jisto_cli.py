"""Jisto's CLI verbs on `berth` (seed 000, section 4), against a real framework over HTTP
(no master: a job that runs stays Pending): the messages jistocli prints, log time
first; `berth job delete` tells a Jisto UUID from a berth job's name."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from api.framework_server import start_framework
from cli import main
from cli.jisto import is_uuid
from tests.server_thread import ServerThread

STAMP = r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} "


@pytest.fixture
def url(tmp_path):
    thread = ServerThread()
    fw = thread.run(start_framework(None, "127.0.0.1", 0,
                                    db_url=f"sqlite:///{tmp_path / 'berth.db'}"))
    yield fw.url
    thread.close(fw)


def berth(url: str, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, [*args, "--url", url])
    assert result.exit_code == code, result.output
    return result.output


def test_create_task_run_and_delete_as_jistocli_answers(url):
    out = berth(url, "job", "create", "MyJob")
    match = re.fullmatch(STAMP + r"Created Job\. Name: \{ MyJob \} UUID: \{ (\S+) \}\n", out)
    assert match, out
    job = match[1]
    assert is_uuid(job)

    out = berth(url, "task", "create", job, "stress", "env", "SLEEP_TIME=300;baz=quux")
    assert re.fullmatch(STAMP + r"Created Task\. Image: \{ stress \} UUID: \{ \S+ \} "
                        rf"Job UUID: \{{ {job} \}}\n", out), out
    berth(url, "task", "create", job, "berth/busybox", "first-run")
    berth(url, "task", "create", job, "berth/busybox")

    out = berth(url, "job", "status", job)
    assert out == (f"MyJob ({job}): Created, created on {out.split('created on ')[1][:20]}, "
                   "0 nodes, tasks finished 0 running 0 left 3, progress 0%\n")
    out = berth(url, "job", "run", job)
    assert out.endswith(f" Job Run operation success. UUID: {{ {job} }}\n"), out
    assert re.match(STAMP, out)
    listing = json.loads(berth(url, "job", "list", "--json"))
    [berth_job] = listing["jobs"]
    assert berth_job["name"] == f"MyJob-{job[:8]}" and berth_job["desired"] == 3

    out = berth(url, "job", "delete", job)
    assert re.fullmatch(STAMP + rf"Deleted Job\. UUID: \{{ {job} \}}\n", out), out
    assert json.loads(berth(url, "job", "list", "--json"))["jobs"] == []


def test_refusals_print_the_reason(url):
    out = berth(url, "job", "create", "Empty")
    job = re.search(r"UUID: \{ (\S+) \}", out)[1]
    out = berth(url, "job", "run", job, code=1)
    assert "409" in out and "cannot run before it has a task" in out
    out = berth(url, "task", "create", job, "busybox", "env", "NOPE", code=1)
    assert "400" in out and "Env" in out
    out = berth(url, "task", "create", job, "busybox", "name", "extra", "words", code=2)
    assert "env" in out


def test_job_delete_of_a_name_is_still_berths(url, tmp_path):
    spec = tmp_path / "web.json"
    spec.write_text(json.dumps({"name": "web", "type": "service",
                                "task": {"dockerimage": "busybox"}}))
    berth(url, "job", "submit", str(spec))
    out = berth(url, "job", "delete", "web", code=1)
    assert "409" in out  # berth's own rule: a running job needs --force
    assert berth(url, "job", "delete", "web", "--force") == "deleted job web\n"
    out = berth(url, "job", "delete", "2cf2b20a-90a8-11e6-bcf7-0242ac120002", code=1)
    assert "404" in out and "no job with UUID" in out


def test_a_uuid_is_told_from_a_name():
    assert is_uuid("1685d125-5a5f-11e6-92b6-005056061e5b")
    assert is_uuid("1685D125-5A5F-11E6-92B6-005056061E5B")
    for name in ("web", "MyJob-1685d125", "1685d1255a5f11e692b6005056061e5b"):
        assert not is_uuid(name)
