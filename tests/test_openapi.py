"""The OpenAPI document served at `/openapi.json` against the app that serves it: every
route the framework's app registers is described (so a new route cannot be left out),
every reference resolves, and every job field says what it means."""

from __future__ import annotations

import aiohttp
import pytest

from api.framework_server import start_framework
from api.openapi_jobs import FIELDS, POLICY_FIELDS
from offers.job import JobSpec, RelaunchPolicy, RestartPolicy


@pytest.fixture
async def framework(tmp_path):
    fw = await start_framework(None, "127.0.0.1", 0, db_url=f"sqlite:///{tmp_path / 'b.db'}")
    yield fw
    await fw.stop()


@pytest.fixture
async def document(framework):
    async with aiohttp.ClientSession() as http, \
            http.get(f"{framework.url}/openapi.json") as resp:
        assert resp.status == 200
        return await resp.json()


def _registered(app) -> set[tuple[str, str]]:
    """(method, path) of every route; aiohttp adds a HEAD beside each `add_get`."""
    return {(route.method, route.resource.canonical) for route in app.router.routes()
            if route.method != "HEAD"}


async def test_every_route_of_the_framework_app_is_in_the_document(framework, document):
    routes = _registered(framework.runner.app)
    assert ("POST", "/v1/jobs") in routes and ("GET", "/v1/tasks/{task_id}/logs") in routes
    missing = sorted((m, p) for m, p in routes
                     if m.lower() not in document["paths"].get(p, {}))
    assert missing == []


async def test_the_document_describes_no_route_the_app_lacks(framework, document):
    routes = _registered(framework.runner.app)
    described = {(method.upper(), path) for path, ops in document["paths"].items()
                 for method in ops}
    assert sorted(described - routes) == []


def _refs(node):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


async def test_every_reference_names_a_schema_of_the_document(document):
    schemas = document["components"]["schemas"]
    refs = set(_refs(document))
    assert "#/components/schemas/JobSpec" in refs
    assert sorted(r for r in refs
                  if r.removeprefix("#/components/schemas/") not in schemas) == []


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
