"""Schemathesis against a real framework and a real master, from their own OpenAPI
documents: every operation, on a server without users (a loopback caller is trusted) and
on one with users, called with HTTP Basic as an admin and with no credentials at all.

Checked for every answer: no 5xx, a status the document lists for the operation, its
content type, its body against the documented schema, and no hang (every request has a
timeout, `REQUEST_SECONDS`, past which the test fails).

Bounded so CI can run it on every change: a few examples per operation (`EXAMPLES`),
derandomized with a fixed seed (the same requests every run), no example database, no
coverage or stateful phase (their hundreds of cases per operation do not fit in CI).
`BERTH_FUZZ_DEEP=1` runs ten times the examples with the coverage phase, for a search by
hand (minutes, not CI). Streams must not hold the fuzzer:

- a SUBSCRIBE that the master accepts answers with an event stream that lasts as long as
  the framework: its status line and headers are checked and the stream is then closed;
- `GET /v1/jobs/{name}/wait` waits up to its `timeout`: capped at `WAIT_SECONDS` here;
- logs with `follow=true` cannot stream here: the framework runs without a master and
  no agent is connected to the master, so they answer 503 or 404 at once;
- `GET /v1/events` is an event stream: its status line, content type and first line are
  checked and it is then closed;
- the agent websocket is fuzzed as plain GETs, which never upgrade (400, 404, 409).
"""

from __future__ import annotations

import json
import os

import aiohttp
import pytest
import requests
import schemathesis
from click.testing import CliRunner
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.framework_server import start_framework
from api.openapi import openapi_document
from api.openapi_master import master_openapi_document
from cli import main
from tests.master_fixtures import start_test_master
from tests.server_thread import ServerThread

# Examples per operation: the open servers get the most; with Basic the same handlers
# run behind the gate; without credentials a server with users refuses everything but
# its open routes with the same 401, so a few say all there is.
DEEP = os.environ.get("BERTH_FUZZ_DEEP") == "1"
EXAMPLES = {name: n * (10 if DEEP else 1)
            for name, n in {"open": 15, "basic": 6, "anonymous": 2}.items()}
REQUEST_SECONDS = 10.0  # a hang bound, not a performance expectation
WAIT_SECONDS = 0.2
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
pytestmark = pytest.mark.fuzz
ROOT = ("root", "rootpass1")
BASIC = {"Authorization": aiohttp.encode_basic_auth(*ROOT)}


def _config(examples: int) -> schemathesis.Config:
    return schemathesis.Config.from_dict({
        "seed": 20261130,
        "suppress-health-check": ["too_slow"],  # a shared CI machine generates slowly
        "request-timeout": REQUEST_SECONDS,
        "generation": {"max-examples": examples, "deterministic": True,
                       "database": "none"},
        "phases": {"stateful": {"enabled": False}, "coverage": {"enabled": DEEP}},
    })


def _schemas(examples: int) -> tuple[schemathesis.BaseSchema, schemathesis.BaseSchema]:
    config = _config(examples)
    return (schemathesis.openapi.from_dict(openapi_document(), config=config),
            schemathesis.openapi.from_dict(master_openapi_document(), config=config))


FRAMEWORK, MASTER = _schemas(EXAMPLES["open"])
FRAMEWORK_BASIC, MASTER_BASIC = _schemas(EXAMPLES["basic"])
FRAMEWORK_ANONYMOUS, MASTER_ANONYMOUS = _schemas(EXAMPLES["anonymous"])


# -- the servers ------------------------------------------------------------------------------


def _add_root(data_dir) -> str:
    result = CliRunner().invoke(main, ["user", "add", ROOT[0], "--admin", "--password-stdin",
                                       "--data-dir", str(data_dir)], input=f"{ROOT[1]}\n",
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return f"sqlite:///{(data_dir / 'berth.db').resolve()}"


@pytest.fixture(scope="module")
def loop_thread():
    thread = ServerThread()
    yield thread
    thread.close()


@pytest.fixture(scope="module")
def servers(loop_thread, tmp_path_factory):
    """`servers(kind, secured)`: the URL of a framework or master (with the user root when
    `secured`), each started on first use on the loop thread, all stopped at the end."""
    started: dict[tuple[str, bool], object] = {}

    def url(kind: str, secured: bool) -> str:
        if (kind, secured) not in started:
            data = tmp_path_factory.mktemp(f"{kind}-{'users' if secured else 'open'}")
            db_url = _add_root(data) if secured else f"sqlite:///{data / 'berth.db'}"
            start = (start_framework(None, "127.0.0.1", 0, db_url=db_url) if kind == "framework"
                     else start_test_master(data, db_url=db_url))
            started[kind, secured] = loop_thread.run(start)
        return started[kind, secured].url

    yield url
    for server in started.values():
        loop_thread.run(server.stop())


# -- the call -------------------------------------------------------------------------------


def _tamed(case) -> None:
    """Cap a wait's timeout (its default is 60 s) so a job that exists is not waited for."""
    if case.operation.path == "/v1/jobs/{name}/wait" and isinstance(case.query, dict):
        timeout = case.query.get("timeout")
        try:
            long = timeout is None or float(timeout) > WAIT_SECONDS
        except (TypeError, ValueError):
            long = False
        if long:
            case.query["timeout"] = WAIT_SECONDS


def _subscribes(case) -> bool:
    return case.operation.path == "/api/v1/scheduler" and isinstance(case.body, dict) \
        and case.body.get("type") == "SUBSCRIBE"


def _subscribe(case, url: str, headers: dict[str, str]) -> None:
    """A SUBSCRIBE: a refusal is checked as any answer; an accepted one is a stream, of
    which the status line and headers are checked before it is closed."""
    kwargs = case.as_transport_kwargs(base_url=url, headers=headers)
    with requests.request(**kwargs, stream=True, timeout=REQUEST_SECONDS) as response:
        if response.status_code != 200:
            response.content  # noqa: B018 - read it whole: it is an error body
            case.validate_response(response, checks=CHECKS, headers=headers)
            return
        assert response.headers["Content-Type"] == "application/json"
        assert response.headers["Mesos-Stream-Id"]
        assert int(next(response.iter_lines())) > 0  # RecordIO: SUBSCRIBED's length


# Whose documented answer is a 5xx here: `pullImage` cannot reach Docker Hub from a test
# machine, so it answers the 502 naming the registry (still checked against the document).
UPSTREAM_PATHS = ("/pullImage/{name}",)


def _events(case, url: str, headers: dict[str, str]) -> None:
    """`GET /v1/events` lasts as long as the framework: a refusal is checked as any
    answer; an accepted stream by its content type and first line, then closed."""
    kwargs = case.as_transport_kwargs(base_url=url, headers=headers)
    with requests.request(**kwargs, stream=True, timeout=REQUEST_SECONDS) as response:
        if response.status_code != 200:
            response.content  # noqa: B018 - read it whole: it is an error body
            case.validate_response(response, checks=CHECKS, headers=headers)
            return
        assert response.headers["Content-Type"] == "text/event-stream"
        assert next(response.iter_lines()).startswith(b"retry:")


def _fuzz(case, url: str, headers: dict[str, str] | None = None) -> None:
    _tamed(case)
    if case.operation.path == "/v1/events":
        _events(case, url, headers or {})
    elif _subscribes(case):
        _subscribe(case, url, headers or {})
    else:
        checks = CHECKS if case.operation.path not in UPSTREAM_PATHS else [
            c for c in CHECKS if c is not not_a_server_error]
        case.call_and_validate(base_url=url, headers=headers, checks=checks)


# -- the tests ------------------------------------------------------------------------------


@FRAMEWORK.parametrize()
def test_framework_without_users(case, servers):
    _fuzz(case, servers("framework", False))


@FRAMEWORK_BASIC.parametrize()
def test_framework_with_basic(case, servers):
    _fuzz(case, servers("framework", True), BASIC)


@FRAMEWORK_ANONYMOUS.parametrize()
def test_framework_without_credentials(case, servers):
    _fuzz(case, servers("framework", True))


@MASTER.parametrize()
def test_master_without_users(case, servers):
    _fuzz(case, servers("master", False))


@MASTER_BASIC.parametrize()
def test_master_with_basic(case, servers):
    _fuzz(case, servers("master", True), BASIC)


@MASTER_ANONYMOUS.parametrize()
def test_master_without_credentials(case, servers):
    _fuzz(case, servers("master", True))


def test_both_documents_are_served(servers):
    for kind, document in (("framework", openapi_document()),
                           ("master", master_openapi_document())):
        response = requests.get(f"{servers(kind, False)}/openapi.json",
                                timeout=REQUEST_SECONDS)
        assert response.status_code == 200
        assert response.json() == json.loads(json.dumps(document))
