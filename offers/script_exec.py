"""Commands run inside a task's container (`docker exec`), as the master and the agent
exchange them (docs/agent-protocol.md, "Exec").

One definition for both ends of the agent link and for the master's `/v1/` route that
the framework calls: an `ExecRequest` goes down (a tar to unpack into the container
first, then a command), an `ExecResult` comes up with the exit code and the tails of
both streams. Pure models: no I/O here.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MAX_OUTPUT_CHARS = 64 * 1024  # the tail of stdout and of stderr an agent sends back
MAX_ARCHIVE_BYTES = 8 * 1024 * 1024  # a tar put into a container, before base64


class ExecCall(BaseModel):
    """What the framework asks the master to run in a task's container."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    argv: tuple[str, ...] = ()  # empty: only unpack the archive
    workdir: str = Field("/", pattern=r"^/")
    env: dict[str, str] = Field(default_factory=dict)
    archive: str | None = None  # base64 of an uncompressed tar
    archive_path: str = Field("/", pattern=r"^/")  # where the tar is unpacked (must exist)


class ExecRequest(ExecCall):
    """`EXEC`, master -> agent: one call, with the id its answer carries."""

    type: str = Field("EXEC", pattern="^EXEC$")
    request_id: str = Field(min_length=1, max_length=200)
    task_id: str = Field(min_length=1)


class ExecResult(BaseModel):
    """`EXEC_RESULT`, agent -> master (and the master's answer to the framework).

    `exit_code` is None when the command could not be run at all; `error` then says why
    and `problem` classifies it: `not_found` (no running container for the task here),
    `bad_request`, `docker` (the engine refused)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = Field("EXEC_RESULT", pattern="^EXEC_RESULT$")
    request_id: str = Field(min_length=1, max_length=200)
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    error: str | None = None
    problem: str | None = None


def tail(text: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    """The last `limit` characters of `text` (what a reader of a long output wants)."""
    return text if len(text) <= limit else text[-limit:]
