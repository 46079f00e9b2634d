"""The framework's REST API against hostile or unlucky clients (issue 9), over real HTTP on
loopback with a real SQLite store: cross-site writes, secrets in listings, JSON that
breaks parsers, and POSTs retried after a dropped connection."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from api.framework_server import start_framework
from tests.test_framework_api import STRESS60, framework

JSON = {"Content-Type": "application/json"}

__all__ = ["framework"]  # the fixture


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def _listing(http, fw) -> list[dict]:
    async with http.get(f"{fw.url}/client/task") as resp:
        assert resp.status == 200
        return await resp.json()


# -- 1. browsers cannot launch --------------------------------------------------------------

SIMPLE_FORM_TYPES = ["text/plain", "text/plain; charset=utf-8",
                     "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]


@pytest.mark.parametrize("content_type", SIMPLE_FORM_TYPES)
@pytest.mark.parametrize("path", ["/client/task", "/v1/tasks"])
async def test_a_post_a_browser_form_could_send_is_a_415_and_launches_nothing(
        framework, http, content_type, path):
    async with http.post(f"{framework.url}{path}", data=json.dumps(STRESS60),
                         headers={"Content-Type": content_type}) as resp:
        assert resp.status == 415
        answer = await resp.json()
        assert "Access-Control-Allow-Origin" not in resp.headers
    assert answer["code"] == 415 and "application/json" in answer["message"]
    assert [e["field"] for e in answer["errors"]] == ["Content-Type"]
    assert await _listing(http, framework) == []


async def test_put_upload_with_a_form_type_is_a_415(framework, http):
    async with http.put(f"{framework.url}/client/task", data=json.dumps(STRESS60),
                        headers={"Content-Type": "text/plain"}) as resp:
        assert resp.status == 415


async def test_usage_samples_need_json_too(framework, http):
    async with http.post(f"{framework.url}/v1/usage", data=json.dumps({"samples": []}),
                         headers={"Content-Type": "text/plain"}) as resp:
        assert resp.status == 415


@pytest.mark.parametrize("headers", [
    JSON,
    {"Content-Type": "application/json; charset=utf-8"},
    {"Content-Type": "Application/JSON"},
    {},  # what `curl -T file` sends: no Content-Type at all
])
@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_json_and_curl_uploads_are_accepted(framework, http, headers, method):
    async with http.request(method, f"{framework.url}/client/task",
                            data=json.dumps(STRESS60).encode(), headers=headers,
                            skip_auto_headers=["Content-Type"]) as resp:
        assert resp.status == 202, await resp.text()


@pytest.mark.parametrize(("method", "path", "headers"), [
    ("POST", "/client/task", {**JSON, "Origin": "http://evil.example"}),
    ("POST", "/client/task", {**JSON, "Sec-Fetch-Site": "cross-site"}),
    ("DELETE", "/client/task/stress", {"Origin": "http://evil.example"}),
    ("DELETE", "/client/task/stress", {"Sec-Fetch-Site": "cross-site"}),
    # An <img src=".../client/task/reshuffle"> on another site: no Origin, but fetch metadata.
    ("GET", "/client/task/reshuffle", {"Sec-Fetch-Site": "cross-site"}),
    ("GET", "/client/task/reshuffle", {"Sec-Fetch-Site": "same-site"}),
    ("POST", "/v1/reshuffle", {"Origin": "http://localhost:3000"}),
])
async def test_cross_site_writes_are_refused(framework, http, method, path, headers):
    async with http.post(f"{framework.url}/client/task", data=json.dumps(STRESS60),
                         headers=JSON) as resp:
        assert resp.status == 202
    body = json.dumps(STRESS60) if method == "POST" else None
    async with http.request(method, f"{framework.url}{path}", data=body,
                            headers=headers) as resp:
        assert resp.status == 403, await resp.text()
        answer = await resp.json()
        assert "Access-Control-Allow-Origin" not in resp.headers
    assert answer["code"] == 403
    assert answer["errors"][0]["field"] in ("Origin", "Sec-Fetch-Site")
    [task] = await _listing(http, framework)
    assert task["state"] == "PENDING"  # not killed, not duplicated


async def test_same_origin_requests_pass(framework, http):
    own = framework.url
    async with http.post(f"{own}/client/task", data=json.dumps(STRESS60),
                         headers={**JSON, "Origin": own, "Sec-Fetch-Site": "same-origin"}
                         ) as resp:
        assert resp.status == 202
    async with http.get(f"{own}/client/task/reshuffle",
                        headers={"Sec-Fetch-Site": "none"}) as resp:  # typed in the bar
        assert resp.status == 202
    async with http.delete(f"{own}/client/task/stress", headers={"Origin": own}) as resp:
        assert resp.status == 200


# -- 2. no secrets out ----------------------------------------------------------------------


async def test_env_values_are_redacted_in_every_listing(framework, http):
    spec = {**STRESS60, "env": {"DB_PASSWORD": "hunter2", "MODE": "fast"}}
    async with http.post(f"{framework.url}/v1/tasks", json=spec) as resp:
        assert resp.status == 202
        internal = resp.headers["Location"].removeprefix("/v1/tasks/")
    urls = ["/client/task", "/v1/tasks", f"/v1/tasks/{internal}"]
    for url in urls:
        async with http.get(f"{framework.url}{url}") as resp:
            text = await resp.text()
        assert "hunter2" not in text and "fast" not in text, url
        data = json.loads(text)
        item = data if isinstance(data, dict) and "internal_id" in data else (
            data["tasks"][0] if isinstance(data, dict) else data[0])
        assert item["env"] == {"DB_PASSWORD": "***", "MODE": "***"}, url


async def test_the_task_still_runs_with_its_real_env(framework):
    spec = {**STRESS60, "env": {"DB_PASSWORD": "hunter2"}}
    async with aiohttp.ClientSession() as http, \
            http.post(f"{framework.url}/v1/tasks", json=spec) as resp:
        internal = resp.headers["Location"].removeprefix("/v1/tasks/")
    record = framework.service.scheduler.task(internal)
    assert record.spec.env == {"DB_PASSWORD": "hunter2"}  # only the answer is redacted


# -- 3. every error diagnosable -------------------------------------------------------------

HOSTILE_JSON = [
    ("10,000 nested lists", b"[" * 10_000 + b"]" * 10_000, "nested"),
    ("10,000 nested objects", b'{"a":' * 10_000 + b"1" + b"}" * 10_000, "nested"),
    ("5,000-digit integer", b'{"id":"x","dockerimage":"y","mem":' + b"9" * 5000 + b"}",
     "digits"),
    ("5,000-digit float", b'{"id":"x","dockerimage":"y","mem":' + b"9" * 5000 + b".5}",
     "digits"),
    ("float overflow", b'{"id":"x","dockerimage":"y","mem":1e999}', "range"),
    ("NaN literal", b'{"id":"x","dockerimage":"y","mem":NaN}', "NaN"),
]


@pytest.mark.parametrize(("case", "body", "word"), HOSTILE_JSON, ids=[c[0] for c in HOSTILE_JSON])
@pytest.mark.parametrize("path", ["/client/task", "/v1/tasks", "/v1/usage"])
async def test_hostile_json_is_a_400_naming_the_body(framework, http, case, body, word, path):
    async with http.post(f"{framework.url}{path}", data=body, headers=JSON) as resp:
        assert resp.status == 400, (case, await resp.text())
        answer = await resp.json()
    assert answer["code"] == 400
    [error] = answer["errors"]
    assert error["field"] == "body" and word in error["problem"], answer


async def test_a_long_string_is_not_a_long_number(framework, http):
    spec = {**STRESS60, "arguments": ["9" * 5000, "[" * 500]}
    async with http.post(f"{framework.url}/client/task", json=spec) as resp:
        assert resp.status == 202, await resp.text()


# -- 4. idempotency ---------------------------------------------------------------------------


async def _post(http, url, body, key=None, headers=None):
    headers = {**JSON, **(headers or {})}
    if key is not None:
        headers["Idempotency-Key"] = key
    async with http.post(url, data=body if isinstance(body, bytes) else json.dumps(body),
                         headers=headers) as resp:
        return resp.status, await resp.read(), resp.headers.get("Location"), resp.headers


@pytest.mark.parametrize("path", ["/client/task", "/v1/tasks"])
async def test_a_retried_post_with_the_same_key_creates_one_task(framework, http, path):
    url = f"{framework.url}{path}"
    first = await _post(http, url, STRESS60, key="retry-1")
    again = await _post(http, url, STRESS60, key="retry-1")
    assert first[0] == again[0] == 202
    assert again[1] == first[1] and again[2] == first[2]  # body and Location, byte for byte
    assert again[3].get("Idempotent-Replayed") == "true"
    assert len(await _listing(http, framework)) == 1
    other = await _post(http, url, STRESS60, key="retry-2")
    assert other[0] == 202 and other[2] != first[2]
    plain = await _post(http, url, STRESS60)  # no key: no deduplication
    assert plain[0] == 202
    assert len(await _listing(http, framework)) == 3


async def test_the_same_key_with_another_body_is_a_422(framework, http):
    url = f"{framework.url}/client/task"
    assert (await _post(http, url, STRESS60, key="k"))[0] == 202
    status, body, _, _ = await _post(http, url, {**STRESS60, "mem": "200"}, key="k")
    assert status == 422
    answer = json.loads(body)
    assert answer["code"] == 422 and answer["errors"][0]["field"] == "Idempotency-Key"
    assert len(await _listing(http, framework)) == 1


async def test_concurrent_retries_with_one_key_create_one_task(framework, http):
    url = f"{framework.url}/v1/tasks"
    answers = await asyncio.gather(*(_post(http, url, STRESS60, key="burst")
                                     for _ in range(20)))
    assert {a[0] for a in answers} == {202}
    assert len({a[2] for a in answers}) == 1
    assert len(await _listing(http, framework)) == 1


async def test_bad_keys_are_a_400_naming_the_header(framework, http):
    url = f"{framework.url}/client/task"
    for key in ("", "x" * 300, "caf\u00e9".encode().decode("latin-1")):
        status, body, _, _ = await _post(http, url, STRESS60, key=key)
        assert status == 400, key
        assert json.loads(body)["errors"][0]["field"] == "Idempotency-Key"
    assert await _listing(http, framework) == []


async def test_keys_survive_a_restart(tmp_path, http):
    db = f"sqlite:///{tmp_path / 'b.db'}"
    fw = await start_framework(None, "127.0.0.1", 0, db_url=db)
    try:
        first = await _post(http, f"{fw.url}/v1/tasks", STRESS60, key="across")
    finally:
        await fw.stop()
    fw = await start_framework(None, "127.0.0.1", 0, db_url=db)
    try:
        again = await _post(http, f"{fw.url}/v1/tasks", STRESS60, key="across")
        assert (again[0], again[1], again[2]) == (first[0], first[1], first[2])
        changed = await _post(http, f"{fw.url}/v1/tasks", {**STRESS60, "id": "x"},
                              key="across")
        assert changed[0] == 422
        assert len(await _listing(http, fw)) == 1
    finally:
        await fw.stop()


def test_a_key_is_written_in_its_task_s_transaction(tmp_path):
    """No crash can keep the task and lose its key, or keep a key with no task: both are in
    the batch's one transaction, so a batch that fails leaves neither."""
    from framework.store import FrameworkStore, IdempotencyKey
    from offers.task import parse_task

    store = FrameworkStore(f"sqlite:///{tmp_path / 'b.db'}")
    store.migrate()
    spec = parse_task(STRESS60)
    store.write(submissions=[("stress60-1", spec, 1.0, IdempotencyKey("a", "f", "stress60-1",
                                                                       1.0))])
    assert store.idempotency_key("a", now=1.0).task_id == "stress60-1"
    with pytest.raises(Exception, match="UNIQUE"):  # the second row repeats an id
        store.write(submissions=[
            ("stress60-2", spec, 2.0, IdempotencyKey("b", "f", "stress60-2", 2.0)),
            ("stress60-1", spec, 2.0)])
    assert store.idempotency_key("b", now=2.0) is None
    assert [e.task_id for e in store.recover()] == ["stress60-1"]
    store.close()


def test_keys_older_than_a_day_are_pruned(tmp_path):
    from framework.store import IDEMPOTENCY_TTL, FrameworkStore, IdempotencyKey
    from offers.task import parse_task

    store = FrameworkStore(f"sqlite:///{tmp_path / 'b.db'}")
    store.migrate()
    spec = parse_task(STRESS60)
    store.write(submissions=[("s-1", spec, 1.0, IdempotencyKey("old", "f", "s-1", 1.0))])
    late = 1.0 + IDEMPOTENCY_TTL + 1
    assert store.idempotency_key("old", now=late) is None  # expired: never replayed
    store.write(submissions=[("s-2", spec, late, IdempotencyKey("new", "f", "s-2", late))])
    assert store.idempotency_key("old", now=0.0) is None  # and gone from disk
    assert store.idempotency_key("new", now=late).task_id == "s-2"
    store.close()
