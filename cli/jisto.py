"""Jisto's CLI verbs (seed 000, section 4) on berth's command: `berth job create NAME`,
`berth task create JOBUUID IMAGE [TASK_NAME] [env 'A=1;B=2']`, `berth job run UUID`,
`berth job delete UUID`. Clients of the framework's Jisto API (api/jisto_app.py), they
answer with jistocli's messages, log time first, so scripts that read them keep working.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import uuid as uuids

import click

from cli.client import fail, request, url_option


def is_uuid(text: str) -> bool:
    """Whether `text` is a UUID as Jisto writes them (36 characters, hyphenated): such an
    argument of `berth job delete` names a Jisto job, anything else a berth job."""
    try:
        return str(uuids.UUID(text)) == text.lower()
    except ValueError:
        return False


def say(message: str) -> None:
    """A line as jistocli logs it: `2016/08/04 12:18:32 <message>`."""
    click.echo(f"{time.strftime('%Y/%m/%d %H:%M:%S')} {message}")


def _post(url: str, path: str, body: dict | None = None) -> dict:
    status, answer = request("POST", f"{url}{path}",
                             None if body is None else json.dumps(body).encode())
    if status != 200:
        fail(status, answer)
    return answer


def operate(url: str, uuid: str, op: str) -> str:
    answer = _post(url, f"/v1/job/{urllib.parse.quote(uuid, safe='')}/op/{op}")
    return answer["UUID"]


@click.command("create")
@click.argument("name")
@url_option
def create_job(name: str, url: str) -> None:
    """Create a Jisto job NAME; prints its UUID (run it once it has a task)."""
    answer = _post(url, "/v1/job", {"Name": name})
    say(f"Created Job. Name: {{ {name} }} UUID: {{ {answer['UUID']} }}")


@click.command("run")
@click.argument("uuid")
@url_option
def run_job(uuid: str, url: str) -> None:
    """Run the Jisto job UUID (it needs at least one task)."""
    say(f"Job Run operation success. UUID: {{ {operate(url, uuid, 'RunJob')} }}")


def manage_jobs_row(job: dict) -> str:
    """A Jisto job as its Manage Jobs page shows it."""
    return (f"{job['Name']} ({job['UUID']}): {job['State']}, created on {job['CreatedOn']}, "
            f"{job['Nodes']} nodes, tasks finished {job['TasksFinished']} running "
            f"{job['TasksRunning']} left {job['TasksLeft']}, progress {job['Progress']}%")


def delete_jisto_job(uuid: str, url: str) -> None:
    say(f"Deleted Job. UUID: {{ {operate(url, uuid, 'DeleteJob')} }}")


@click.command("create", context_settings={"ignore_unknown_options": True})
@click.argument("job_uuid")
@click.argument("image")
@click.argument("rest", nargs=-1)
@url_option
def create_task(job_uuid: str, image: str, rest: tuple[str, ...], url: str) -> None:
    """Add a task to the Jisto job JOB_UUID: one more run of IMAGE. The rest is
    jistocli's: an optional task name, then `env 'A=1;B=2'`. Add the same image N times
    for N iterations; different images make a multi-image job."""
    words = list(rest)
    body: dict[str, str] = {"Image": image, "JobUUID": job_uuid}
    if words and words[0] != "env":
        body["Name"] = words.pop(0)
    if words:
        if words[0] != "env" or len(words) != 2:
            raise click.UsageError("after the image: [TASK_NAME] [env 'NAME=value;...']")
        body["Env"] = words[1]
    answer = _post(url, "/v1/task", body)
    say(f"Created Task. Image: {{ {image} }} UUID: {{ {answer['UUID']} }} "
        f"Job UUID: {{ {job_uuid} }}")
