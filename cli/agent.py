"""`berth agent`: one node's agent. Wiring only: options -> AgentConfig -> `start_agent`
(api/agent_node.py), which `berth up` also calls inside its own asyncio loop.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
from dataclasses import replace
from pathlib import Path

import click
import docker

from api.agent_node import AgentService, start_agent
from api.auth import ExposureRefused
from api.serving import ServerLimits, check_descriptor_budget, raise_descriptor_limit
from cli.registry import registry_option
from cli.server_options import (
    bearer_from_file,
    master_ca_option,
    server_limit_options,
    tls_options,
)
from executor.agent import AgentConfig
from executor.capacity import parse_amounts, parse_resources
from executor.container_spec import DEFAULT_PIDS_LIMIT, ContainerPolicy
from offers.elasticity import ElasticPolicy

__all__ = ["AgentService", "agent_config", "container_policy", "policy_options", "start_agent"]

DEFAULT_HEADROOM = "cpus:0.25;mem:256"


def parse_attributes(text: str | None, nodetype: str | None) -> dict[str, str]:
    """`"rack=r1,zone=a"` -> dict; `--nodetype` wins over an attribute of that name."""
    attributes: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in (text or "").split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{item!r} is not key=value")
        attributes[key.strip()] = value.strip()
    if nodetype:
        attributes["nodetype"] = nodetype
    return attributes


def agent_config(master: str, *, hostname: str | None = None, nodetype: str | None = None,
                 attributes: str | None = None, resources: str | None = None,
                 headroom: str | None = DEFAULT_HEADROOM, data_dir: str | Path | None = None,
                 port: int = 5051, ignore_incumbent: bool = False,
                 container_gc_delay: float = 3600.0,
                 preempt_for_cpu: bool = False) -> AgentConfig:
    """An AgentConfig from the command line's strings; ValueError names the bad one."""
    try:
        limits = parse_resources(resources)
    except ValueError as exc:
        raise ValueError(f"--resources: {exc}") from None
    try:
        room = parse_amounts(headroom)
    except ValueError as exc:
        raise ValueError(f"--headroom: {exc}") from None
    try:
        attrs = parse_attributes(attributes, nodetype)
    except ValueError as exc:
        raise ValueError(f"--attributes: {exc}") from None
    return AgentConfig(
        master=master, hostname=hostname or socket.gethostname(), attributes=attrs,
        limits=limits, headroom=room,
        data_dir=Path(data_dir) if data_dir else Path.home() / ".berth" / f"agent-{port}",
        measure_incumbent=not ignore_incumbent, container_gc_seconds=container_gc_delay,
        elasticity=ElasticPolicy(cpu_preempts=preempt_for_cpu))


def container_policy(pids_limit: int, allow_new_privileges: bool,
                     cap_add: tuple[str, ...]) -> ContainerPolicy:
    """The operator's container limits from the command line; UsageError names the flag."""
    try:
        return ContainerPolicy(pids_limit=pids_limit, allow_new_privileges=allow_new_privileges,
                               cap_add=tuple(cap_add))
    except ValueError as exc:
        flag = "--pids-limit" if "pids" in str(exc) else "--cap-add"
        raise click.UsageError(f"{flag}: {exc}") from None


def policy_options(command):
    """The container-hardening flags, shared by `berth agent` and `berth up`."""
    for option in reversed([
        click.option("--pids-limit", default=DEFAULT_PIDS_LIMIT, show_default=True,
                     type=click.IntRange(min=0),
                     help="Most processes per container (0 = unlimited)."),
        click.option("--allow-new-privileges", is_flag=True,
                     help="Let setuid programs in containers gain privileges "
                          "(no-new-privileges is set by default)."),
        click.option("--cap-add", "cap_add", multiple=True, metavar="CAP",
                     help="Give every container this Linux capability (repeatable); by "
                          "default they get Docker's set minus NET_RAW, MKNOD, AUDIT_WRITE."),
    ]):
        command = option(command)
    return command


@click.command("agent")
@click.option("--master", required=True, help="The master: HOST:PORT or a URL.")
@click.option("--port", default=5051, show_default=True, type=click.IntRange(0, 65535),
              help="Port of the agent's own HTTP server (/health, /state).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address of the agent's own server; beyond loopback it needs --insecure.")
@click.option("--insecure", is_flag=True,
              help="Listen beyond loopback without authentication (logged at every start).")
@click.option("--token-file", type=click.Path(dir_okay=False), envvar="BERTH_AGENT_TOKEN_FILE",
              help="An admin-scope token the master accepts (when it has users).")
@click.option("--hostname", default=None, help="Name to register under [this host's name].")
@click.option("--nodetype", default=None, help="The nodetype attribute tasks may ask for.")
@click.option("--attributes", default=None, help="More attributes: k=v,k2=v2.")
@click.option("--resources", default=None,
              help='Caps on what is offered, e.g. "cpus:4;mem:8192;ports:[31000-31499]".')
@click.option("--headroom", default=DEFAULT_HEADROOM, show_default=True,
              help="Kept free for the node's own programs on top of their measured load.")
@click.option("--allow-volume", "allow_volume", multiple=True, type=click.Path(),
              help="Host path prefix tasks may mount (repeatable); none by default.")
@click.option("--allow-privileged", is_flag=True, help="Let tasks run privileged.")
@click.option("--ignore-incumbent", is_flag=True,
              help="Do not subtract the node's own load (a node dedicated to berth).")
@click.option("--preempt-for-cpu", is_flag=True,
              help="When the node's own programs want every core, preempt berth's tasks as "
                   "for memory (default: their CPU quotas stay at a floor; CPU is "
                   "compressible).")
@click.option("--data-dir", default=None, type=click.Path(),
              help="Where the agent keeps its id [~/.berth/agent-PORT].")
@click.option("--container-gc-delay", default=3600.0, show_default=True,
              type=click.FloatRange(min=0), metavar="SECONDS",
              help="Keep ended containers this long so their logs can be read (0 = remove "
                   "at once).")
@registry_option("berth's registry as this node reaches it (HOST:PORT) [the one the "
                 "master names at registration]; its engine must trust it for plain HTTP "
                 "(--insecure-registry) unless it is on loopback.")
@policy_options
@server_limit_options()
@tls_options
@master_ca_option
def agent_command(tls, tls_cert, master_ssl, registry, master, port, host, insecure, token_file,
                  hostname, nodetype, attributes, resources, headroom, allow_volume,
                  allow_privileged, ignore_incumbent, preempt_for_cpu, data_dir,
                  container_gc_delay, pids_limit, allow_new_privileges, cap_add,
                  limits) -> None:
    """Run an agent: offer this node's spare capacity and run tasks as containers."""
    try:
        config = agent_config(master, hostname=hostname, nodetype=nodetype,
                              attributes=attributes, resources=resources, headroom=headroom,
                              data_dir=data_dir, port=port, ignore_incumbent=ignore_incumbent,
                              container_gc_delay=container_gc_delay,
                              preempt_for_cpu=preempt_for_cpu)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    config = replace(config, master_credential=bearer_from_file(token_file, "--token-file"),
                     master_ssl=master_ssl, registry=registry)
    for path in allow_volume:
        if not os.path.isabs(path):
            raise click.UsageError(f"--allow-volume: {path!r} is not an absolute path")
    policy = container_policy(pids_limit, allow_new_privileges, cap_add)
    raise_descriptor_limit()
    check_descriptor_budget(limits)
    asyncio.run(_serve(config, host, port, tuple(allow_volume), allow_privileged, policy,
                       limits, insecure, tls))


async def _serve(config: AgentConfig, host: str, port: int, allowed: tuple[str, ...],
                 allow_privileged: bool, policy: ContainerPolicy,
                 limits: ServerLimits | None = None, insecure: bool = False,
                 tls: ssl.SSLContext | None = None) -> None:
    try:
        service = await start_agent(config, host=host, port=port, allowed_volumes=allowed,
                                    allow_privileged=allow_privileged,
                                    container_policy=policy, limits=limits, insecure=insecure,
                                    tls=tls)
    except ExposureRefused as exc:
        raise click.ClickException(str(exc)) from None
    except docker.errors.DockerException as exc:
        raise click.ClickException(f"cannot reach the Docker engine: {exc}") from None
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from None
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    done = asyncio.create_task(stop.wait())
    await asyncio.wait({done, service.task}, return_when=asyncio.FIRST_COMPLETED)
    await service.stop()
