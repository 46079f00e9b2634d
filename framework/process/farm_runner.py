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

from framework.farm_htc import (
    Configuration,
    for_pool,
    for_target,
    learn,
    new_bag,
    throughput_function,
)
from framework.farm_store import FarmStore
from framework.farms import (
    SAMPLE_ENOUGH,
    BadFarmInput,
    Bag,
    Farm,
    FarmPhase,
    NodeType,
    choose_sample,
    lane_occupancy,
    node_types,
    parse_bag,
    sample_size,
    stopped,
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
                  lanes: int, commands: tuple[str, ...] | None = None,
                  name: str | None = None) -> dict:
        """The batch job running `indexes` of the bag (the farm's, or `commands`) on
        `lanes` lanes of `nodetype`."""
        bag = farm.commands if commands is None else commands
        return {"name": name or farm.job_name(stage, nodetype), "type": "batch",
                "namespace": farm.namespace, "completions": len(indexes),
                "parallelism": max(1, min(lanes, len(indexes))),
                "restart": {"attempts": 0},
                "labels": {"farm": farm.id, "stage": stage},
                "task": {"dockerimage": farm.image, "cpus": farm.cpus, "mem": farm.mem,
                         "nodetype": nodetype, "arguments": [
                             "sh", "-c", task_script([bag[i] for i in indexes])]}}

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

    async def select(self, farm_id: str, target: float | None = None,
                     pool: Mapping[str, int] | None = None) -> tuple[Farm, Configuration]:
        """HTC's `select`: the cheapest pool reaching `target` tasks/hour (NoConfiguration
        naming the best there is), or `pool` as given (`create_worker`/`remove_worker`;
        BadFarmInput naming what is wrong), becomes the farm's configuration."""
        async with self._lock:
            farm = self.get(farm_id)
            if not farm.samples or farm.phase is FarmPhase.FAILED:
                raise FarmConflict(f"farm {farm_id} is {farm.phase.value}: a throughput "
                                   "is selected once the farm is sampled")
            function = throughput_function(farm.samples, farm.nodetypes, farm.slots)
            if pool is not None:
                chosen = for_pool(function, pool, farm.nodetypes)
                target = chosen.throughput
            else:
                chosen = for_target(function, target)
            farm = await self._write(dataclasses.replace(
                farm, target=target, configuration=dict(chosen.pool)))
            return farm, chosen

    async def add(self, farm_id: str, text: str) -> tuple[Farm, Bag]:
        """HTC's `add`: a bag submitted at once on the farm's current configuration, split
        over its node types by their throughput, one batch job per type."""
        async with self._lock:
            farm = self.get(farm_id)
            if farm.phase is FarmPhase.FAILED:
                raise FarmConflict(f"farm {farm_id} failed: {farm.reason}")
            if not farm.configuration:
                raise FarmConflict(f"farm {farm_id} has no configuration ("
                                   f"{farm.phase.value}): select a target throughput first")
            commands = parse_bag(text)
            bag = new_bag(len(farm.bags) + 1, commands, farm.configuration, farm.samples,
                          farm.slots, self.service.clock())
            pool = bag.pool
            specs, start = [], 0
            for nodetype, count in sorted(bag.shares.items()):
                if count > 0:
                    specs.append(self._job_spec(
                        farm, f"bag{bag.number}", nodetype,
                        tuple(range(start, start + count)), pool[nodetype] * farm.slots,
                        commands, bag.job_name(farm.id, nodetype)))
                start += count
            for spec in specs:  # all acceptable before any is submitted
                parse_job(spec)
            farm = await self._write(dataclasses.replace(farm, bags=farm.bags + (bag,)))
            try:
                for spec in specs:
                    await self.service.jobs.submit(parse_job(spec))
            except Exception as exc:
                farm = await self._write(self._with_bag(farm, dataclasses.replace(
                    bag, phase="failed", reason=f"could not submit its jobs: {exc}")))
                raise
            return farm, bag

    def _job_names(self, farm: Farm) -> list[str]:
        """Every job the farm submitted: its sample, its run and its added bags."""
        names = [farm.job_name("sample", t) for t in farm.nodetypes]
        names += [farm.job_name("run", t) for t, k in farm.shares.items() if k > 0]
        names += [b.job_name(farm.id, t) for b in farm.bags
                  for t, k in b.shares.items() if k > 0]
        return [n for n in names if self.service.scheduler.job(n) is not None]

    async def stop(self, farm_id: str) -> Farm:
        """ConPaaS's `stop`: every job of the farm still running is stopped, whatever its
        tasks are doing; the sampling, run or bags in progress end `stopped`, their pools
        paid until now. A farm with nothing running is left as it is."""
        async with self._lock:
            return await self._stop(self.get(farm_id))

    async def _stop(self, farm: Farm) -> Farm:
        for name in self._job_names(farm):
            if not self.service.scheduler.job(name).phase.final:
                await self.service.jobs.stop(name)
        after = stopped(farm, self.service.clock())
        return await self._write(after) if after != farm else farm

    async def delete(self, farm_id: str) -> Farm:
        """ConPaaS's `terminate`: the farm stopped, its jobs deleted, the farm forgotten."""
        async with self._lock:
            farm = await self._stop(self.get(farm_id))
            for name in self._job_names(farm):
                await self.service.jobs.delete(name, force=True)
            await asyncio.to_thread(self.store.delete, farm_id)
            del self.farms[farm_id]
            return farm

    @staticmethod
    def _with_bag(farm: Farm, bag: Bag) -> Farm:
        return dataclasses.replace(farm, bags=tuple(bag if b.number == bag.number else b
                                                    for b in farm.bags))

    def _bag_jobs(self, farm: Farm, bag: Bag) -> dict[str, Job]:
        found = {}
        for nodetype, count in bag.shares.items():
            job = self.service.scheduler.job(bag.job_name(farm.id, nodetype))
            if count > 0 and job is not None:
                found[nodetype] = job
        return found

    def bags_done(self, farm: Farm) -> dict[int, int]:
        return {b.number: sum(1 for job in self._bag_jobs(farm, b).values()
                              for r in self.service.scheduler.job_instances(job)
                              if r.state is TaskState.FINISHED)
                for b in farm.bags if b.phase == "running"}

    def _ended(self, jobs: dict[str, Job], wanted: int) -> dict[str, list] | None:
        """The finished instances per node type once every job has ended, else None."""
        if len(jobs) < wanted or not all(j.phase.final for j in jobs.values()):
            return None
        return {t: [r for r in self.service.scheduler.job_instances(j)
                    if r.state is TaskState.FINISHED] for t, j in jobs.items()}

    @staticmethod
    def _measured(records: dict[str, list], pool: Mapping[str, int], slots: int
                  ) -> dict[str, tuple[float, ...]]:
        """How long each finished task held its lane, per node type (as sampled)."""
        measured = {}
        for nodetype, done in records.items():
            if done:
                runs = [(r.launched_at or r.created_at, r.updated_at) for r in done]
                measured[nodetype] = lane_occupancy(
                    runs, pool.get(nodetype, 1) * slots, min(a for a, _ in runs))
        return measured

    def _bags_moved(self, farm: Farm) -> Farm:
        """Bags whose jobs ended: done (their runtimes joining the samples) or failed."""
        for bag in farm.bags:
            if bag.phase != "running":
                continue
            jobs = self._bag_jobs(farm, bag)
            records = self._ended(jobs, sum(1 for k in bag.shares.values() if k > 0))
            if records is None:
                continue
            ended = max((r.updated_at for rs in records.values() for r in rs),
                        default=self.service.clock())
            failed = [f"{j.id}: {j.phase_reason or j.phase.value}" for j in jobs.values()
                      if j.phase is not Phase.COMPLETE]
            bag = dataclasses.replace(bag, phase="failed" if failed else "done",
                                      reason="; ".join(failed) or None,
                                      run_seconds=ended - bag.submitted_at)
            farm = dataclasses.replace(self._with_bag(farm, bag), samples=learn(
                farm.samples, self._measured(records, bag.pool, farm.slots)))
        return farm

    async def refresh(self, farm_id: str) -> Farm:
        """The farm, moved on if its jobs have ended: samples recorded, the run done, an
        added bag done; a finished run's or bag's runtimes join the samples (the
        throughput function is re-estimated)."""
        async with self._lock:
            farm = self.get(farm_id)
            moved = self._bags_moved(self._stage_moved(farm))
            if moved != farm:
                farm = await self._write(moved)
            return farm

    def _stage_moved(self, farm: Farm) -> Farm:
        stage = {FarmPhase.SAMPLING: "sample", FarmPhase.RUNNING: "run"}.get(farm.phase)
        if stage is None:
            return farm
        jobs = self.jobs(farm, stage)
        wanted = len(farm.nodetypes) if stage == "sample" else \
            sum(1 for k in farm.shares.values() if k > 0)
        records = self._ended(jobs, wanted)
        if records is None:
            return farm
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
                      "run_seconds": ended - (farm.run_started or ended),
                      "samples": learn(farm.samples, self._measured(
                          records, farm.pool, farm.slots))}
        if failed:
            key = "sample_seconds" if stage == "sample" else "run_seconds"
            started = farm.sample_started if stage == "sample" else farm.run_started
            change[key] = ended - (started or ended)
        return dataclasses.replace(farm, **change)
