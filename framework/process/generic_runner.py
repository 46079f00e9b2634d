"""The Generic service's I/O (docs/generic-service.md): code versions kept in the store,
volumes, and the commands of `framework.generic_service` carried out inside the instances
(framework/process/instance_exec.py: calls to the master's exec route, which the
instance's agent runs with `docker exec`).

Each command is a task of its own (a run.sh may last hours while an interrupt.sh must get
through); what comes back (an address, a script's end) goes to the job's state machine,
and the commands it answers with are carried out in turn. Every clock tick the job's
running instances are compared with what the machine knows (`observe`): that is how
scaling (the job scale API) reaches notify.sh and init.sh.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import string
import uuid
from collections.abc import Callable
from typing import Any, Protocol

import structlog

from framework import commands as cmd
from framework import events as ev
from framework import generic_service as G
from framework.code_archive import plain_tar
from framework.code_store import CodeStore, CodeVersion, VersionExists, VolumeRecord
from framework.jobs import Job
from framework.process.change_feed import scripts_change
from framework.process.event_hub import EventHub
from framework.process.instance_exec import ExecFailed, InstanceExec
from framework.scheduler import Scheduler
from framework.store import FrameworkStore, StoreUnavailable
from offers.job import JobType
from offers.states import TaskState
from offers.task import Volume

log = structlog.get_logger("berth.framework.generic")

VOLUME_ROOT = "/media"  # a volume `data` is mounted at /media/data
VOLUME_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,47}$")


class Driver(Protocol):
    scheduler: Scheduler
    store: FrameworkStore
    clock: Callable[[], float]
    master_url: str | None
    master_headers: dict[str, str]
    events: EventHub  # what `GET /v1/events` streams (a service's page follows it)

    @property
    def ssl_option(self) -> Any: ...

    def apply(self, event: ev.Event) -> list[cmd.Command]: ...


class GenericNotFound(LookupError):
    """No such job or code version (404)."""


class GenericConflict(Exception):
    """Not now, or not for this job (409)."""


def new_version_id() -> str:
    """`code-` and six letters or digits, as ConPaaS names them (`code-pw1LKs`)."""
    alphabet = string.ascii_letters + string.digits
    return "code-" + "".join(secrets.choice(alphabet) for _ in range(6))


def docker_volume(volume: VolumeRecord) -> str:
    """The engine's name of a volume: readable, and new for every creation (one deleted
    and made again under the same name does not find the old one's data)."""
    job = re.sub(r"[^a-zA-Z0-9_.-]", "-", volume.job)[:40]
    return f"berth-{job}-{volume.name}-{int(volume.created_at * 1000) % 10**8:08d}"


class GenericRunner:
    """Code versions and lifecycle scripts of the framework's service jobs."""

    def __init__(self, service: Driver, new_id: Callable[[], str] = new_version_id) -> None:
        self.service = service
        self.new_id = new_id
        self.store = CodeStore(service.store.engine)
        self.versions: dict[str, list[CodeVersion]] = {}
        self.machines: dict[str, G.GenericService] = {}
        self.volumes: dict[str, list[VolumeRecord]] = {}
        self.inside = InstanceExec(service.master_url, service.master_headers,
                                   service.ssl_option)
        self._tasks: set[asyncio.Task] = set()
        self._lock = asyncio.Lock()

    # -- life cycle ---------------------------------------------------------------------

    def load(self) -> None:
        """Blocking: the stored versions (the active one's machine starts with it)."""
        for version in self.store.versions():
            self.versions.setdefault(version.job, []).append(version)
        inits = self.store.inits()
        for job, versions in self.versions.items():
            active = next((v.id for v in versions if v.active), None)
            self._machine(job, active, inits.get(job))
        for volume in self.store.volumes():
            self.volumes.setdefault(volume.job, []).append(volume)

    def restore(self) -> None:
        """Tell the core the stored volumes of each slot (after its recovery)."""
        for job, volumes in self.volumes.items():
            for slot in {v.slot for v in volumes}:
                self.service.apply(ev.SlotVolumesChanged(job, slot, self._mounts(job, slot)))

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.inside.close()

    def _machine(self, job: str, active: str | None = None,
                 inited: dict[str, set[str]] | None = None) -> G.GenericService:
        machine = self.machines.get(job)
        if machine is None:
            machine = self.machines[job] = G.GenericService(
                job, self.service.clock, lambda: uuid.uuid4().hex, active, inited)
        return machine

    def _job(self, name: str) -> Job:
        job = self.service.scheduler.job(name)
        if job is None:
            raise GenericNotFound(f"no job named {name!r}")
        if job.kind is not JobType.SERVICE or job.charmander:
            raise GenericConflict(f"{name!r} is a {job.kind} job: code versions and "
                                  "lifecycle scripts are for service jobs")
        return job

    def _version(self, job: str, version: str) -> CodeVersion:
        for found in self.versions.get(job, ()):
            if found.id == version:
                return found
        raise GenericNotFound(f"job {job!r} has no code version {version!r}")

    # -- code versions ------------------------------------------------------------------

    def list(self, job: str) -> list[CodeVersion]:
        self._job(job)
        return list(reversed(self.versions.get(job, [])))  # newest first, as list_uploads

    async def upload(self, job: str, data: bytes, filename: str,
                     description: str = "") -> CodeVersion:
        """SpecError (naming `file`) for an archive that is not one or is unsafe."""
        self._job(job)
        tar, names = await asyncio.to_thread(plain_tar, data)
        async with self._lock:
            for _ in range(5):
                version = CodeVersion(job, self.new_id(), filename, description,
                                      self.service.clock(), False, names, len(data))
                try:
                    await asyncio.to_thread(self.store.add, version, data, tar)
                    break
                except VersionExists:
                    continue
            else:
                raise GenericConflict("no free version id; try again")
            self.versions.setdefault(job, []).append(version)
            self._machine(job)
        log.info("code_uploaded", job=job, version=version.id, bytes=len(data))
        await self.tick()
        return version

    async def download(self, job: str, version: str) -> tuple[str, bytes]:
        self._job(job)
        found = self._version(job, version)
        data = await asyncio.to_thread(self.store.blob, job, version, "archive")
        if data is None:
            raise GenericNotFound(f"job {job!r} has no code version {version!r}")
        return found.filename, data

    async def delete(self, job: str, version: str) -> None:
        self._job(job)
        async with self._lock:
            found = self._version(job, version)
            if found.active:
                raise GenericConflict(f"{version} is the active code version: enable "
                                      "another one first")
            await asyncio.to_thread(self.store.delete, job, version)
            self.versions[job] = [v for v in self.versions[job] if v.id != version]
            self._machine(job).forget_version(version)
            await asyncio.to_thread(self.store.forget_inits, job, None, version)

    async def enable(self, job: str, version: str) -> CodeVersion:
        self._job(job)
        async with self._lock:
            found = self._version(job, version)
            machine = self._machine(job)
            try:
                commands = machine.enable(version)  # refused before anything is written
            except G.Refused as exc:
                raise GenericConflict(str(exc)) from None
            await asyncio.to_thread(self.store.activate, job, version)
            self.versions[job] = [
                v.__class__(**{**v.__dict__, "active": v.id == version})
                for v in self.versions[job]]
        self._carry_out(job, commands)
        log.info("code_enabled", job=job, version=version)
        return self._version(job, found.id)

    # -- volumes ------------------------------------------------------------------------

    def list_volumes(self, job: str) -> list[dict]:
        found = self._job(job)
        return [self._volume_json(found, v) for v in self.volumes.get(job, [])]

    async def create_volume(self, job: str, name: str, size: int, instance: str) -> dict:
        found = self._job(job)
        async with self._lock:
            record = self._instance(found, instance)
            self._idle(job, "attached")
            if any(v.name == name for v in self.volumes.get(job, [])):
                raise GenericConflict(f"job {job!r} has a volume {name!r} already")
            volume = VolumeRecord(job, name, size, instance, record.slot or (0, 0),
                                  self.service.clock())
            await asyncio.to_thread(self.store.add_volume, volume)
            self.volumes.setdefault(job, []).append(volume)
            self.service.apply(ev.SlotVolumesChanged(job, volume.slot,
                                                     self._mounts(job, volume.slot),
                                                     restart=instance))
        log.info("volume_attached", job=job, volume=name, instance=instance, size=size)
        return self._volume_json(found, volume)

    async def delete_volume(self, job: str, name: str) -> None:
        found = self._job(job)
        async with self._lock:
            volume = next((v for v in self.volumes.get(job, []) if v.name == name), None)
            if volume is None:
                raise GenericNotFound(f"job {job!r} has no volume {name!r}")
            self._idle(job, "detached")
            await asyncio.to_thread(self.store.delete_volume, job, name)
            self.volumes[job] = [v for v in self.volumes[job] if v.name != name]
            current = self._slot_instance(found, volume.slot)
            self.service.apply(ev.SlotVolumesChanged(
                job, volume.slot, self._mounts(job, volume.slot),
                restart=current.task_id if current is not None else None))

    def _idle(self, job: str, what: str) -> None:
        machine = self.machines.get(job)
        if machine is not None and (running := machine.running()):
            instance, script = running[0]
            raise GenericConflict(f"a volume is {what} only while no script runs: "
                                  f"{script}.sh runs on instance {instance}")

    def _instance(self, job: Job, instance: str):
        record = self.service.scheduler.task(instance)
        if record is None or record.submission_id != job.id or record.slot is None \
                or record.state is not TaskState.RUNNING:
            raise GenericNotFound(f"job {job.id!r} has no running instance {instance!r}")
        return record

    def _slot_instance(self, job: Job, slot: tuple[int, int]):
        live = [r for r in self.service.scheduler.job_instances(job)
                if r.slot == slot and not r.state.terminal]
        return live[-1] if live else None

    def _mounts(self, job: str, slot: tuple[int, int]) -> tuple[Volume, ...]:
        return tuple(Volume(name=docker_volume(v), container_path=f"{VOLUME_ROOT}/{v.name}")
                     for v in self.volumes.get(job, []) if v.slot == slot)

    def _volume_json(self, job: Job, volume: VolumeRecord) -> dict:
        current = self._slot_instance(job, volume.slot)
        return {"name": volume.name, "vol_name": volume.name, "size": volume.size,
                "instance": current.task_id if current is not None else None,
                "attached_to": volume.instance, "mount": f"{VOLUME_ROOT}/{volume.name}",
                "docker_volume": docker_volume(volume), "created_at": volume.created_at}

    # -- scripts ------------------------------------------------------------------------

    async def request(self, job: str, script: str, parameters: list[str]) -> list[dict]:
        self._job(job)
        await self.tick()
        machine = self._machine(job)
        try:
            commands = machine.request(script, parameters)
        except G.Refused as exc:
            raise GenericConflict(str(exc)) from None
        self._carry_out(job, commands)
        self._changed(job)
        return machine.status()

    def status(self, job: str) -> list[dict]:
        self._job(job)
        machine = self.machines.get(job)
        return machine.status() if machine is not None else []

    def interrupting(self, job: str) -> bool:
        """An interrupt was asked for and scripts still run: the next one kills them."""
        machine = self.machines.get(job)
        return bool(machine is not None and machine.interrupting)

    async def tick(self) -> None:
        """Each service job with code versions: its running instances, to its machine."""
        for name in list(self.machines):
            job = self.service.scheduler.job(name)
            if job is None:  # deleted: its versions go with it
                del self.machines[name]
                self.versions.pop(name, None)
                self.volumes.pop(name, None)
                await asyncio.to_thread(self.store.delete, name)
                continue
            running = [r.task_id for r in self.service.scheduler.job_instances(job)
                       if r.state is TaskState.RUNNING]
            machine = self.machines[name]
            before = set(machine.instances)
            self._carry_out(name, machine.observe(running))
            if before != set(machine.instances):
                self._changed(name)
            if gone := sorted(before - set(machine.instances)):
                await asyncio.to_thread(self.store.forget_inits, name, gone)

    def _changed(self, job: str) -> None:
        """Tell the event stream a service's script statuses or instances changed."""
        record = self.service.scheduler.job(job)
        namespace = record.namespace if record is not None else None
        self.service.events.publish("scripts", scripts_change(job, namespace), namespace)

    # -- carrying out -------------------------------------------------------------------

    def _carry_out(self, job: str, commands: list[G.Command]) -> None:
        for command in commands:
            task = asyncio.create_task(self._do(job, command))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _do(self, job: str, command: G.Command) -> None:
        machine = self.machines.get(job)
        if machine is None:
            return
        inside = self.inside
        try:
            if isinstance(command, G.Join):
                address = await inside.join(command.instance)
                self._carry_out(job, machine.joined(command.instance, address))
                self._changed(job)
            elif isinstance(command, G.WriteAgents):
                await inside.write_agents(command.instance,
                                          [a.as_json() for a in command.agents])
            elif isinstance(command, G.Deliver):
                await self._deliver(job, command.instance, command.version)
            elif isinstance(command, G.KillScripts):
                await inside.kill(command.instance, command.run_ids)
            else:
                await self._run(job, machine, command)
        except ExecFailed as exc:
            log.warning("generic_command_failed", job=job, command=type(command).__name__,
                        instance=command.instance, error=str(exc))
            if isinstance(command, G.RunScript):
                self._carry_out(job, machine.ended(command.instance, command.run_id, None,
                                                   error=str(exc)))
                self._changed(job)
            elif isinstance(command, G.Join):
                machine.join_failed(command.instance)

    async def _run(self, job: str, machine: G.GenericService, run: G.RunScript) -> None:
        if run.agents is not None:
            await self.inside.write_agents(run.instance, [a.as_json() for a in run.agents])
        if run.deliver:
            await self._deliver(job, run.instance, run.version)
        answer = await self.inside.run_script(run.instance, run.run_id, run.script,
                                              run.parameters)
        self._carry_out(job, machine.ended(run.instance, run.run_id, answer["exit_code"],
                                           answer["stdout"], answer["stderr"]))
        self._changed(job)
        if run.script == "init":
            try:  # remembered across restarts of the framework, so never run twice
                await asyncio.to_thread(self.store.add_init, job, run.instance, run.version)
            except StoreUnavailable as exc:
                log.warning("init_not_recorded", job=job, instance=run.instance,
                            error=str(exc))

    async def _deliver(self, job: str, instance: str, version: str) -> None:
        tar = await asyncio.to_thread(self.store.blob, job, version, "tar")
        if tar is None:
            raise ExecFailed(f"code version {version} is gone")
        await self.inside.deliver(instance, tar)
