"""The OpenAPI documents served at `/openapi.json` (the framework's and the master's)
against the apps that serve them: every route each app registers is described and no
other (so a new route cannot be left out), every operation lists the refusals its gate
can give, every reference resolves, the documents are valid OpenAPI 3.1, real answers
match their schemas, and every job field says what it means."""

from __future__ import annotations

import json

import aiohttp
import jsonschema_rs
import pytest

from api.auth import CHALLENGE, OPEN_PATHS
from api.framework_server import start_framework
from api.master_app import MASTER_OPEN_PATHS
from api.openapi_jobs import FIELDS, POLICY_FIELDS
from offers.job import JobSpec, RelaunchPolicy, RestartPolicy
from tests.master_fixtures import start_test_master

JSON = {"Content-Type": "application/json"}


@pytest.fixture
async def framework(tmp_path):
    fw = await start_framework(None, "127.0.0.1", 0, db_url=f"sqlite:///{tmp_path / 'b.db'}")
    yield fw
    await fw.stop()


@pytest.fixture
async def master(tmp_path):
    running = await start_test_master(tmp_path)
    yield running
    await running.stop()


async def _served(url: str) -> dict:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/openapi.json") as resp:
        assert resp.status == 200
        return await resp.json()


@pytest.fixture
async def document(framework):
    return await _served(framework.url)


@pytest.fixture
async def master_document(master):
    return await _served(master.url)


def _registered(app) -> set[tuple[str, str]]:
    """(method, path) of every route; aiohttp adds a HEAD beside each `add_get`."""
    return {(route.method, route.resource.canonical) for route in app.router.routes()
            if route.method != "HEAD"}


def _described(document) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, ops in document["paths"].items()
            for method in ops}


def _operations(document):
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            yield f"{method.upper()} {path}", path, op


async def test_every_route_of_the_framework_app_is_in_the_document(framework, document):
    routes = _registered(framework.runner.app)
    assert ("POST", "/v1/jobs") in routes and ("GET", "/v1/tasks/{task_id}/logs") in routes
    assert ("GET", "/v1/audit") in routes
    assert sorted(routes - _described(document)) == []


async def test_the_document_describes_no_route_the_app_lacks(framework, document):
    routes = _registered(framework.runner.app)
    assert sorted(_described(document) - routes) == []


async def test_the_master_document_describes_exactly_the_master_app(master, master_document):
    routes = _registered(master.runner.app)
    assert ("POST", "/api/v1/scheduler") in routes and ("GET", "/agent/v1/stream") in routes
    described = _described(master_document)
    assert sorted(routes - described) == []
    assert sorted(described - routes) == []


@pytest.fixture
def documents(document, master_document):
    """Each document with the paths its server's gate leaves open."""
    return [(document, OPEN_PATHS | {"/ui", "/ui/{path}"}),
            (master_document, MASTER_OPEN_PATHS)]


async def test_every_operation_lists_what_the_gate_can_refuse(documents):
    for document, open_paths in documents:
        _lists_what_the_gate_can_refuse(document, open_paths)


def _lists_what_the_gate_can_refuse(document, open_paths) -> None:
    schemes = document["components"]["securitySchemes"]
    assert (schemes["basic"]["scheme"], schemes["bearer"]["scheme"]) == ("basic", "bearer")
    assert {} in document["security"]  # no users: a loopback caller needs no credentials
    for name, path, op in _operations(document):
        responses = op["responses"]
        assert "403" in responses, name  # another site's page, on every route
        if path in open_paths:
            assert op["security"] == [] and "401" not in responses, name
            continue
        challenge = responses["401"]["headers"]["WWW-Authenticate"]["schema"]
        assert challenge["enum"][0] == CHALLENGE, name
        names = [p.get("$ref", "").rsplit("/", 1)[-1] for p in op["parameters"]]
        assert {"namespace", "jrunns"} <= set(names), name
        if "requestBody" in op:
            assert {"413", "415"} <= set(responses), name


async def test_the_documents_are_valid_openapi_3_1(documents):
    definitions = pytest.importorskip("schemathesis.specs.openapi.definitions")
    for document, _ in documents:
        errors = [str(e) for e in definitions.OPENAPI_31_VALIDATOR.iter_errors(document)]
        assert errors == []


def _check(document: dict, schema: dict, instance) -> None:
    """`instance` against `schema`, its $refs resolved in the document's components."""
    jsonschema_rs.validator_for({**schema, "components": document["components"]}) \
        .validate(json.loads(json.dumps(instance)))


async def test_real_answers_match_their_schemas(framework, document):
    """Among them a job with constraints: they are echoed as Marathon's lists, where the
    document first described the parsed object (every such status broke its schema)."""
    job = {"name": "web", "task": {"dockerimage": "nginx", "mem": 64,
                                   "constraints": [["hostname", "UNIQUE"]]},
           "constraints": [["rack", "GROUP_BY", "2"], ["rack", "LIKE", "r[0-9]"]]}
    paths = document["paths"]
    async with aiohttp.ClientSession(headers=JSON) as http:
        async with http.post(f"{framework.url}/v1/jobs", data=json.dumps(job)) as resp:
            assert resp.status == 201
            _check(document, paths["/v1/jobs"]["post"]["responses"]["201"]["content"][
                "application/json"]["schema"], await resp.json())
        _check(document, {"$ref": "#/components/schemas/JobSpec"}, job)
        task = {"id": "t1", "dockerimage": "busybox", "constraints": [["a", "CLUSTER", "b"]],
                "env": {"SECRET": "x"}}
        async with http.post(f"{framework.url}/v1/tasks", data=json.dumps(task)) as resp:
            assert resp.status == 202
            task_id = (await resp.json())["internal_id"]
        for path, route in ((f"/v1/tasks/{task_id}", "/v1/tasks/{task_id}"),
                            ("/v1/tasks", "/v1/tasks"), ("/v1/jobs/web", "/v1/jobs/{name}"),
                            ("/v1/jobs", "/v1/jobs"), ("/client/task", "/client/task")):
            async with http.get(f"{framework.url}{path}") as resp:
                assert resp.status == 200
                _check(document, paths[route]["get"]["responses"]["200"]["content"][
                    "application/json"]["schema"], await resp.json())


def _refs(node):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


async def test_every_reference_names_a_part_of_the_document(documents):
    for document, _ in documents:
        refs = set(_refs(document))
        assert "#/components/parameters/namespace" in refs
        components = document["components"]
        assert sorted(r for r in refs if r.removeprefix("#/components/").partition("/")[2]
                      not in components.get(r.split("/")[2], {})) == []
    assert "#/components/schemas/JobSpec" in set(_refs(documents[0][0]))
    assert "#/components/schemas/MesosCall" in set(_refs(documents[1][0]))


async def test_every_job_field_is_described(document):
    schemas = document["components"]["schemas"]
    assert sorted(set(JobSpec.model_fields) - set(FIELDS)) == []
    for model in (RestartPolicy, RelaunchPolicy):
        assert sorted(set(model.model_fields) - set(POLICY_FIELDS[model.__name__])) == []
        for name in model.model_fields:
            assert schemas[model.__name__]["properties"][name]["description"]
    for name in JobSpec.model_fields:
        assert schemas["JobSpec"]["properties"][name]["description"]


async def test_bounds_are_written_as_json_schema_does(document):
    restart = document["components"]["schemas"]["RestartPolicy"]["properties"]
    assert restart["attempts"]["anyOf"][0] == {"type": "integer", "minimum": 0}
    assert restart["delay"]["default"] == 5.0
    scale = document["paths"]["/v1/jobs/{name}/scale"]["put"]
    assert {"200", "400", "404", "409", "415", "503"} <= set(scale["responses"])
