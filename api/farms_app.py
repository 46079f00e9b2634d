"""Task farming over HTTP on the framework's port (docs/farming.md): `/v1/farms`.

Thin: parse, call `framework.process.farm_runner` (the jobs) and `simulator.farm` (the
schedules from the samples), answer. A bag can be larger than the app's small JSON
limit: its body is read here with its own bound.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from aiohttp import web

from api.http_errors import error_response
from api.json_body import BadBody, read_json
from api.namespaces import refused_in, sees, target_namespace, visible
from framework.driver import FrameworkService
from framework.farm_htc import NoConfiguration, throughput_answer
from framework.farm_schedules import REPLICATIONS, NoSchedule, choose, forecast_of, schedules
from framework.farms import BadFarmInput, Farm, FarmPhase, farm_view
from framework.process.farm_runner import FarmConflict, FarmNotFound, MasterUnreachable
from offers.problems import FieldProblem

MAX_FARM_BODY = 8 * 1024 * 1024
CREATE_FIELDS = frozenset({"image", "bag", "slots", "cpus", "mem", "seed", "namespace"})


class _Bad(Exception):
    def __init__(self, status: int, message: str, problems: list[FieldProblem]) -> None:
        self.response = error_response(status, message, problems)


async def _body(request: web.Request) -> dict:
    data = bytearray()
    while chunk := await request.content.read(64 * 1024):
        data += chunk
        if len(data) > MAX_FARM_BODY:
            raise _Bad(413, f"the body is larger than {MAX_FARM_BODY} bytes",
                       [FieldProblem("body", "is too large")])
    if not data.strip():
        return {}
    try:
        body = read_json(bytes(data))
    except BadBody as exc:
        raise _Bad(400, str(exc), [FieldProblem("body", exc.problem)]) from None
    if not isinstance(body, dict):
        raise _Bad(400, "the body must be a JSON object", [FieldProblem("body", "not an "
                                                                                "object")])
    return body


def _number(body: dict, name: str, default: Any, *, whole: bool = False,
            low: float = 0.0, high: float = math.inf) -> Any:
    value = body.get(name, default)
    if value is None:
        return None
    ok = isinstance(value, int | float) and not isinstance(value, bool) and \
        math.isfinite(value) and low <= value <= high and (not whole or value == int(value))
    if not ok:
        kind = "a whole number" if whole else "a number"
        raise _Bad(400, f"invalid {name}", [FieldProblem(name, f"must be {kind} within "
                                                              f"{low:g}-{high:g}")])
    return int(value) if whole else float(value)


class FarmHandlers:
    def __init__(self, service: FrameworkService) -> None:
        self.service = service
        self.farms = service.farms

    async def _farm(self, request: web.Request) -> Farm:
        farm_id = request.match_info["id"]
        farm = self.farms.farms.get(farm_id)
        if farm is None or not sees(request, farm.namespace):
            raise _Bad(404, f"no farm {farm_id!r}", [FieldProblem("id", "no such farm")])
        return await self.farms.refresh(farm_id)

    def _view(self, farm: Farm) -> dict:
        done = self.farms.done(farm, "run") if farm.phase is not FarmPhase.DONE else \
            sum(farm.shares.values())
        sampling = self.farms.done(farm, "sample") \
            if farm.phase is FarmPhase.SAMPLING else None
        return farm_view(farm, done, self.service.clock(), sampling,
                         self.farms.bags_done(farm))

    async def create(self, request: web.Request) -> web.Response:
        body = await _body(request)
        image, bag = body.get("image"), body.get("bag")
        problems = [FieldProblem(str(name)[:80], "unknown field") for name in body
                    if name not in CREATE_FIELDS]
        if not isinstance(image, str) or not image.strip() or len(image) > 512:
            problems.append(FieldProblem("image", "is required: the image the tasks run in"))
        if not isinstance(bag, str):
            problems.append(FieldProblem("bag", "is required: the bag's text, one command "
                                                "a line"))
        if problems:
            return error_response(400, "invalid farm", problems)
        slots = _number(body, "slots", 1, whole=True, low=1, high=256)
        cpus = _number(body, "cpus", 0.1, low=0.001, high=4096)
        mem = _number(body, "mem", 32.0, low=4, high=1024 * 1024)
        seed = _number(body, "seed", 0, whole=True, low=0, high=2**31)
        namespace = target_namespace(request, body.get("namespace")
                                     if isinstance(body.get("namespace"), str) else None)
        refusal = refused_in(request, namespace)
        if refusal is not None:
            return refusal
        try:
            farm = await self.farms.create(namespace, image, bag, slots=slots, cpus=cpus,
                                           mem=mem, seed=seed)
        except BadFarmInput as exc:
            return error_response(400, exc.message, exc.problems)
        except MasterUnreachable as exc:
            return error_response(502, str(exc))
        return web.json_response(self._view(farm), status=201,
                                 headers={"Location": f"/v1/farms/{farm.id}"})

    async def listing(self, request: web.Request) -> web.Response:
        farms = visible(request, self.farms.farms.values(), lambda f: f.namespace)
        return web.json_response({"farms": [
            {"id": f.id, "phase": f.phase.value, "tasks": len(f.commands),
             "image": f.image, "namespace": f.namespace} for f in farms]})

    async def status(self, request: web.Request) -> web.Response:
        return web.json_response(self._view(await self._farm(request)))

    async def sample(self, request: web.Request) -> web.Response:
        farm = await self._farm(request)
        body = await _body(request)
        size = _number(body, "size", None, whole=True, low=1, high=100_000)
        refusal = refused_in(request, farm.namespace)
        if refusal is not None:
            return refusal
        farm = await self.farms.sample(farm.id, size)
        return web.json_response(self._view(farm), status=202)

    async def _schedules(self, farm: Farm, request: web.Request):
        if not farm.samples:
            raise _Bad(409, f"farm {farm.id} has no samples yet ({farm.phase.value}): "
                            "sample it and wait for the sampling to end",
                       [FieldProblem("phase", f"is {farm.phase.value}")])
        replications = _query_int(request, "replications", 10, 5000) \
            if "replications" in request.query else REPLICATIONS
        return await asyncio.to_thread(
            schedules, farm.samples, farm.nodetypes, len(farm.rest()), farm.slots,
            farm.seed, replications, startup=farm.startup)

    async def schedules(self, request: web.Request) -> web.Response:
        farm = await self._farm(request)
        found = await self._schedules(farm, request)
        return web.json_response({"farm": farm.id, "tasks": len(farm.rest()),
                                  "schedules": [s.as_json() for s in found]})

    async def run(self, request: web.Request) -> web.Response:
        farm = await self._farm(request)
        body = await _body(request)
        index = _number(body, "schedule", None, whole=True, low=0, high=1_000_000)
        budget = _number(body, "budget", None, low=0)
        deadline = _number(body, "deadline", None, low=0)
        configured = body.get("configuration", False)
        if not isinstance(configured, bool):
            return error_response(400, "invalid configuration", [FieldProblem(
                "configuration", "must be true or false")])
        if sum(v is not None for v in (index, budget, deadline)) + configured != 1:
            return error_response(400, "say which schedule to run", [FieldProblem(
                "schedule", "give exactly one of schedule, budget, deadline and "
                            "configuration")])
        refusal = refused_in(request, farm.namespace)
        if refusal is not None:
            return refusal
        if configured and not farm.configuration:
            # HTC's `submit`: on the pool `select` chose
            raise _Bad(409, f"farm {farm.id} has no configuration: select a target "
                            "throughput first", [FieldProblem("configuration",
                                                              "none selected")])
        found = await self._schedules(farm, request)
        try:
            chosen = choose(found, index=index, budget=budget, deadline=deadline,
                            pool=farm.configuration if configured else None)
        except IndexError as exc:
            return error_response(400, str(exc), [FieldProblem("schedule", str(exc))])
        except NoSchedule as exc:
            field = "configuration" if configured else \
                "budget" if budget is not None else "deadline"
            return error_response(422, str(exc), [FieldProblem(field, "no schedule meets "
                                                                      "it")])
        farm = await self.farms.run(farm.id, dict(chosen.pool), dict(chosen.shares),
                                    forecast_of(chosen))
        return web.json_response(self._view(farm), status=202)


    async def throughput(self, request: web.Request) -> web.Response:
        """HTC: `throughput = f(cost)` from the samples (as re-estimated), and with
        `?target=` the cheapest pool reaching it."""
        farm = await self._farm(request)
        if not farm.samples:
            raise _Bad(409, f"farm {farm.id} has no samples yet ({farm.phase.value}): "
                            "sample it and wait for the sampling to end",
                       [FieldProblem("phase", f"is {farm.phase.value}")])
        target = _query_number(request, "target") if "target" in request.query else None
        try:
            answer = throughput_answer(farm, target)
        except NoConfiguration as exc:
            return error_response(422, str(exc), [FieldProblem("target",
                                                               "no pool reaches it")])
        return web.json_response(answer)

    async def select(self, request: web.Request) -> web.Response:
        """HTC: the cheapest pool reaching `target`, or the `pool` given (node type ->
        nodes: ConPaaS's `create_worker`/`remove_worker`), becomes the farm's
        configuration."""
        farm = await self._farm(request)
        body = await _body(request)
        pool = body.get("pool")
        if (body.get("target") is None) == (pool is None):
            return error_response(400, "give a target throughput or a pool", [FieldProblem(
                "target", "give exactly one of target (tasks per hour) and pool")])
        if pool is not None and not isinstance(pool, dict):
            return error_response(400, "invalid pool", [FieldProblem(
                "pool", "must be an object: node type -> nodes")])
        target = _number(body, "target", None, low=0, high=1e12)
        refusal = refused_in(request, farm.namespace)
        if refusal is not None:
            return refusal
        try:
            farm, chosen = await self.farms.select(farm.id, target, pool)
        except BadFarmInput as exc:
            return error_response(400, exc.message, exc.problems)
        except NoConfiguration as exc:
            return error_response(422, str(exc), [FieldProblem("target",
                                                               "no pool reaches it")])
        return web.json_response({**self._view(farm), "selected": chosen.as_json()})

    async def add_bag(self, request: web.Request) -> web.Response:
        """HTC: a bag submitted at once on the current configuration."""
        farm = await self._farm(request)
        body = await _body(request)
        problems = [FieldProblem(str(name)[:80], "unknown field") for name in body
                    if name != "bag"]
        if not isinstance(body.get("bag"), str):
            problems.append(FieldProblem("bag", "is required: the bag's text, one command "
                                                "a line"))
        if problems:
            return error_response(400, "invalid bag", problems)
        refusal = refused_in(request, farm.namespace)
        if refusal is not None:
            return refusal
        try:
            farm, bag = await self.farms.add(farm.id, body["bag"])
        except BadFarmInput as exc:
            return error_response(400, exc.message, exc.problems)
        return web.json_response({**self._view(farm), "added": bag.number}, status=202)

    async def stop(self, request: web.Request) -> web.Response:
        """ConPaaS's `stop`: what the farm runs is stopped, whatever its tasks do."""
        farm = await self._farm(request)
        refusal = refused_in(request, farm.namespace)
        if refusal is not None:
            return refusal
        return web.json_response(self._view(await self.farms.stop(farm.id)))

    async def delete(self, request: web.Request) -> web.Response:
        """ConPaaS's `terminate`: stopped, its jobs deleted, the farm forgotten."""
        farm = await self._farm(request)
        refusal = refused_in(request, farm.namespace)
        if refusal is not None:
            return refusal
        await self.farms.delete(farm.id)
        return web.json_response({"deleted": farm.id})


def _query_number(request: web.Request, name: str) -> float:
    try:
        value = float(request.query[name])
    except ValueError:
        value = -1.0
    if not (math.isfinite(value) and value >= 0):
        raise _Bad(400, f"invalid {name}", [FieldProblem(name, "must be a number >= 0 "
                                                               "(tasks per hour)")])
    return value


def _query_int(request: web.Request, name: str, low: int, high: int) -> int:
    try:
        value = int(request.query[name])
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise _Bad(400, f"invalid {name}", [FieldProblem(name, f"must be within "
                                                               f"{low}-{high}")])
    return value


def _guarded(handler):
    """The handler, its refusals answered in berth's error format."""
    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except _Bad as exc:
            return exc.response
        except FarmNotFound as exc:
            return error_response(404, str(exc), [FieldProblem("id", "no such farm")])
        except FarmConflict as exc:
            return error_response(409, str(exc), [FieldProblem("phase", str(exc))])
    return guarded

ROUTES: list[tuple[str, str, str]] = [
    ("POST", "/v1/farms", "create"),
    ("GET", "/v1/farms", "listing"),
    ("GET", "/v1/farms/{id}", "status"),
    ("POST", "/v1/farms/{id}/sample", "sample"),
    ("GET", "/v1/farms/{id}/schedules", "schedules"),
    ("POST", "/v1/farms/{id}/run", "run"),
    ("GET", "/v1/farms/{id}/throughput", "throughput"),
    ("POST", "/v1/farms/{id}/select", "select"),
    ("POST", "/v1/farms/{id}/bags", "add_bag"),
    ("POST", "/v1/farms/{id}/stop", "stop"),
    ("DELETE", "/v1/farms/{id}", "delete"),
]


def add_farm_routes(app: web.Application, service: FrameworkService) -> None:
    handlers = FarmHandlers(service)
    for method, path, name in ROUTES:
        app.router.add_route(method, path, _guarded(getattr(handlers, name)))
