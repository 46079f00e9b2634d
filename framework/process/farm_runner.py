"""Task farms carried out by the framework's driver: the node types read from the
master's agents, the sample and the rest of the bag submitted as berth batch jobs (one
per node type, constrained to it), their runtimes read back from the jobs' instances.

A farm moves on when someone looks at it (`refresh`): its jobs are in the framework's
store already, so a restart loses nothing and no background task is needed. Every
change of a farm is on disk before it is answered.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from collections.abc import Callable, Mapping

import aiohttp

from framework.farm_store import FarmStore
from framework.farms import (
    SAMPLE_ENOUGH,
    BadFarmInput,
    Farm,
    FarmPhase,
    NodeType,
    choose_sample,
    lane_occupancy,
    node_types,
    parse_bag,
    sample_size,
    task_script,
)
from framework.jobs import Job
from offers.job import Phase, parse_job
from offers.problems import FieldProblem, SpecError
from offers.states import TaskState


class FarmNotFound(LookupError):
    pass


class FarmConflict(Exception):
    """Not in this phase (409)."""


class MasterUnreachable(Exception):
    """The master's agents could not be read (502)."""


def new_farm_id() -> str:
    return "farm-" + secrets.token_hex(4)


class FarmRunner:
    def __init__(self, service, new_id: Callable[[], str] = new_farm_id) -> None:
        self.service = service
        self.new_id = new_id
        self.store = FarmStore(service.store.engine)
        self.farms: dict[str, Farm] = {}
        self._lock = asyncio.Lock()

    def load(self) -> None:
        """Blocking: the stored farms."""
        self.farms = {f.id: f for f in self.store.all()}

    async def _write(self, farm: Farm, new: bool = False) -> Farm:
        await asyncio.to_thread(self.store.add if new else self.store.save, farm)
        self.farms[farm.id] = farm
        return farm

    async def agents(self) -> list[dict]:
        """The master's agents (`GET /state`) with their attributes."""
        if not self.service.master_url:
            return []  # no master, no agents: no node type (refused by `create`)
        try:
            async with aiohttp.ClientSession(
                    headers=self.service.master_headers,
                    timeout=aiohttp.ClientTimeout(total=15),
                    connector=aiohttp.TCPConnector(ssl=self.service.ssl_option)) as session, \
                    session.get(self.service.master_url + "/state") as resp:
                if resp.status != 200:
                    raise MasterUnreachable(f"the master answered {resp.status}")
                return list((await resp.json()).get("agents", []))
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise MasterUnreachable(f"cannot read the master's agents: {exc}") from None

    async def create(self, namespace: str, image: str, bag: str, *, slots: int = 1,
                     cpus: float = 0.1, mem: float = 32.0, seed: int = 0,
                     nodetypes: Mapping[str, NodeType] | None = None) -> Farm:
        """A farm of the bag (BadFarmInput naming file:line or the node type at fault)."""
        commands = parse_bag(bag)
        types = dict(nodetypes) if nodetypes is not None else node_types(await self.agents())
        if not types:
            raise BadFarmInput("no node type to farm on", [FieldProblem(
                "nodetypes", "no active agent has a nodetype attribute (berth agent "
                             "--nodetype NAME --attributes price=0.12)"
                             + ("" if self.service.master_url else
                                "; this framework has no master"))])
        farm = Farm(self.new_id(), namespace, image, commands, types,
                    self.service.clock(), slots=slots, cpus=cpus, mem=mem, seed=seed)
        try:  # the jobs it will submit must be acceptable: checked now, not mid-way
            for nodetype in types:
                parse_job(self._job_spec(farm, "sample", nodetype, (0,), 1))
        except SpecError as exc:
            raise BadFarmInput("invalid farm", [
                FieldProblem(p.field.removeprefix("task.").replace("dockerimage", "image"),
                             p.problem) for p in exc.problems]) from None
        return await self._write(farm, new=True)

    def get(self, farm_id: str) -> Farm:
        farm = self.farms.get(farm_id)
        if farm is None:
            raise FarmNotFound(f"no farm {farm_id!r}")
        return farm

    def _job_spec(self, farm: Farm, stage: str, nodetype: str, indexes: tuple[int, ...],
                  lanes: int) -> dict:
        return {"name": farm.job_name(stage, nodetype), "type": "batch",
                "namespace": farm.namespace, "completions": len(indexes),
                "parallelism": max(1, min(lanes, len(indexes))),
                "restart": {"attempts": 0},
                "labels": {"farm": farm.id, "stage": stage},
                "task": {"dockerimage": farm.image, "cpus": farm.cpus, "mem": farm.mem,
                         "nodetype": nodetype, "arguments": [
                             "sh", "-c", task_script([farm.commands[i] for i in indexes])]}}

    async def _submit_all(self, farm: Farm, specs: list[dict]) -> None:
        """Submit the farm's jobs; if one is refused (its name taken, the store down) the
        farm fails with the reason instead of waiting for jobs that never come."""
        try:
            for spec in specs:
                await self.service.jobs.submit(parse_job(spec))
        except Exception as exc:
            await self._write(dataclasses.replace(
                farm, phase=FarmPhase.FAILED, reason=f"could not submit its jobs: {exc}"))
            raise

    async def sample(self, farm_id: str, size: int | None = None) -> Farm:
        async with self._lock:
            farm = self.get(farm_id)
            if farm.phase is not FarmPhase.CREATED:
                raise FarmConflict(f"farm {farm_id} is {farm.phase.value}: it is sampled "
                                   "once, right after it is created")
            count = sample_size(len(farm.commands), size or SAMPLE_ENOUGH)
            sampled = choose_sample(len(farm.commands), count, farm.seed)
            farm = dataclasses.replace(farm, sampled=sampled, phase=FarmPhase.SAMPLING,
                                       sample_started=self.service.clock())
            await self._write(farm)  # the phase first: a restart finds the jobs' owner
            await self._submit_all(farm, [self._job_spec(farm, "sample", t.name, sampled,
                                                   t.nodes * farm.slots)
                                    for t in farm.nodetypes.values()])
            return farm

    async def run(self, farm_id: str, pool: dict[str, int], shares: dict[str, int],
                  forecast: dict[str, float]) -> Farm:
        async with self._lock:
            farm = self.get(farm_id)
            if farm.phase is not FarmPhase.SAMPLED:
                raise FarmConflict(f"farm {farm_id} is {farm.phase.value}: a farm runs "
                                   "once, after its sampling ended")
            rest = farm.rest()
            farm = dataclasses.replace(farm, phase=FarmPhase.RUNNING, pool=pool,
                                       shares=shares, forecast=forecast,
                                       run_started=self.service.clock())
            await self._write(farm)
            specs, start = [], 0
            for nodetype, count in sorted(shares.items()):
                if count > 0:
                    specs.append(self._job_spec(farm, "run", nodetype,
                                                rest[start:start + count],
                                                pool[nodetype] * farm.slots))
                start += count
            await self._submit_all(farm, specs)
            if not specs:
                farm = await self._write(dataclasses.replace(
                    farm, phase=FarmPhase.DONE, run_seconds=0.0))
            return farm

    def jobs(self, farm: Farm, stage: str) -> dict[str, Job]:
        types = farm.nodetypes if stage == "sample" else \
            [t for t, k in farm.shares.items() if k > 0]
        found = {}
        for nodetype in types:
            job = self.service.scheduler.job(farm.job_name(stage, nodetype))
            if job is not None:
                found[nodetype] = job
        return found

    @staticmethod
    def _learned(farm: Farm, records: dict[str, list]) -> dict:
        """Per node type: the start-up delay (submission to the first launch) and how long
        each sampled task held its lane (framework.farms.lane_occupancy)."""
        samples, startup = {}, {}
        start = farm.sample_started or 0.0
        for nodetype, done in records.items():
            if not done:
                continue
            runs = [(r.launched_at or r.created_at, r.updated_at) for r in done]
            first = min(launched for launched, _ in runs)
            startup[nodetype] = round(max(0.0, first - start), 3)
            samples[nodetype] = lane_occupancy(
                runs, farm.nodetypes[nodetype].nodes * farm.slots, first)
        return {"samples": samples, "startup": startup}

    def done(self, farm: Farm, stage: str) -> int:
        return sum(1 for job in self.jobs(farm, stage).values()
                   for r in self.service.scheduler.job_instances(job)
                   if r.state is TaskState.FINISHED)

    async def refresh(self, farm_id: str) -> Farm:
        """The farm, moved on if its jobs have ended: samples recorded, or the run done."""
        async with self._lock:
            farm = self.get(farm_id)
            stage = {FarmPhase.SAMPLING: "sample", FarmPhase.RUNNING: "run"}.get(farm.phase)
            if stage is None:
                return farm
            jobs = self.jobs(farm, stage)
            wanted = len(farm.nodetypes) if stage == "sample" else \
                sum(1 for k in farm.shares.values() if k > 0)
            if len(jobs) < wanted or not all(j.phase.final for j in jobs.values()):
                return farm
            records = {t: [r for r in self.service.scheduler.job_instances(j)
                           if r.state is TaskState.FINISHED] for t, j in jobs.items()}
            ended = max((r.updated_at for rs in records.values() for r in rs),
                        default=self.service.clock())
            failed = [f"{j.id}: {j.phase_reason or j.phase.value}" for j in jobs.values()
                      if j.phase is not Phase.COMPLETE]
            if failed:
                change = {"phase": FarmPhase.FAILED, "reason": "; ".join(failed)}
            elif stage == "sample":
                change = {"phase": FarmPhase.SAMPLED,
                          "sample_seconds": ended - (farm.sample_started or ended),
                          **self._learned(farm, records)}
            else:
                change = {"phase": FarmPhase.DONE,
                          "run_seconds": ended - (farm.run_started or ended)}
            if failed:
                key = "sample_seconds" if stage == "sample" else "run_seconds"
                started = farm.sample_started if stage == "sample" else farm.run_started
                change[key] = ended - (started or ended)
            return await self._write(dataclasses.replace(farm, **change))
