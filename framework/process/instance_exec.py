"""What the Generic service does inside an instance, as calls to the master's
`POST /v1/tasks/{task_id}/exec` (api/master_exec.py; its agent runs them with
`docker exec`): learn its address, write agents.json, put a version's files in place,
run a lifecycle script, kill scripts' process groups.

The shell snippets are here and nowhere else. A script runs as `sh ./<name>.sh args...`
in the code folder, after its wrapper wrote its pid (docker exec makes it a session and
process-group leader, so the pid names the group its children join); a kill sends
SIGTERM to each group, then SIGKILL `KILL_GRACE` seconds later.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import tarfile
from typing import Any

import aiohttp

CODE_DIR = "/var/lib/cpsagent/code"  # where a version's files are, and scripts run
CACHE_DIR = "/var/cache/cpsagent"  # agents.json
PID_DIR = f"{CACHE_DIR}/run"  # one pid file per script run: its process group
KILL_GRACE = 2  # seconds between SIGTERM and SIGKILL of a script's process group
_WRAPPER = ('echo $$ > {pids}/{run}.pid; if [ -f "./$0" ]; then exec sh "./$0" "$@"; fi; '
            'echo "$0 is not in this code version: nothing to run"')
_KILL = ('for r in "$@"; do p=$(cat {pids}/$r.pid 2>/dev/null) && kill -TERM -$p '
         '2>/dev/null; done; sleep {grace}; for r in "$@"; do p=$(cat {pids}/$r.pid '
         '2>/dev/null) && kill -KILL -$p 2>/dev/null; done; true')
_JOIN = f"mkdir -p {PID_DIR} {CODE_DIR} && (hostname -i 2>/dev/null || hostname)"
_CLEAR = f"rm -rf {CODE_DIR} && mkdir -p {CODE_DIR}"


class ExecFailed(Exception):
    """The command could not be run (the master or agent refused or was away)."""


def file_tar(path: str, content: bytes) -> bytes:
    """A tar of one file, for put_archive."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo(path)
        info.size, info.mode = len(content), 0o644
        tar.addfile(info, io.BytesIO(content))
    return out.getvalue()


class InstanceExec:
    """The calls, through one master; `close()` when done."""

    def __init__(self, master_url: str | None, headers: dict[str, str], ssl: Any) -> None:
        self.master_url = master_url
        self.headers = headers
        self.ssl = ssl
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def join(self, instance: str) -> str:
        """Make the instance's folders; its address."""
        answer = await self.exec(instance, ["sh", "-c", _JOIN])
        return (answer["stdout"].split() or [""])[0]

    async def write_agents(self, instance: str, agents: list[dict[str, str]]) -> None:
        content = json.dumps({"agents": agents}, indent=1).encode()
        await self.exec(instance, ["mkdir", "-p", CACHE_DIR])
        await self.exec(instance, [], archive=file_tar("agents.json", content),
                        archive_path=CACHE_DIR)

    async def deliver(self, instance: str, tar: bytes) -> None:
        """Replace the code folder's content with the tar's."""
        await self.exec(instance, ["sh", "-c", _CLEAR])
        await self.exec(instance, [], archive=tar, archive_path=CODE_DIR)

    async def run_script(self, instance: str, run_id: str, script: str,
                         parameters: tuple[str, ...]) -> dict:
        """Run `<script>.sh parameters...` to its end: {exit_code, stdout, stderr}."""
        wrapper = _WRAPPER.format(pids=PID_DIR, run=run_id)
        return await self.exec(instance, ["sh", "-c", wrapper, f"{script}.sh", *parameters],
                               workdir=CODE_DIR)

    async def kill(self, instance: str, run_ids: tuple[str, ...]) -> None:
        await self.exec(instance, ["sh", "-c", _KILL.format(pids=PID_DIR, grace=KILL_GRACE),
                                   "kill", *run_ids])

    async def exec(self, task_id: str, argv: list[str], *, workdir: str = "/",
                   archive: bytes | None = None, archive_path: str = "/") -> dict:
        if not self.master_url:
            raise ExecFailed("the framework has no master")
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, connect=10), headers=self.headers,
                connector=aiohttp.TCPConnector(ssl=self.ssl))
        body: dict[str, Any] = {"argv": argv, "workdir": workdir,
                                "archive_path": archive_path}
        if archive is not None:
            body["archive"] = base64.b64encode(archive).decode()
        try:
            async with self._session.post(f"{self.master_url}/v1/tasks/{task_id}/exec",
                                          json=body) as resp:
                text = await resp.text()
                if resp.status != 200:
                    with contextlib.suppress(ValueError, AttributeError):
                        text = json.loads(text).get("message") or text
                    raise ExecFailed(f"the master answered {resp.status}: {text}")
                return json.loads(text)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ExecFailed(f"exec through the master failed: {exc}") from None
