"""Client global parameters (the Elastic Job Master's per-client variables): values kept
apart from job templates, given to every run of a job that names the client.

Pure: the core resolves them into an instance's spec when it creates the instance, so a
change applies from the next run (or restart) on without touching any template. A job's
own `env` wins over its client's; `${KEY}` in the arguments is replaced from the same
merged environment (an unknown `${KEY}` is left as written, as a shell would not).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from offers.problems import FieldProblem
from offers.task import TaskSpec

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # POSIX: what a shell can expand
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
MAX_PARAMETERS = 500
MAX_VALUE = 32_768


@dataclass(frozen=True)
class ClientParameters:
    """One client's parameters in one namespace (clients are per namespace: two teams'
    `acme` are two clients)."""

    namespace: str
    client: str
    values: Mapping[str, str] = field(default_factory=dict)
    updated_at: float = 0.0


def parameter_problems(body: object) -> list[FieldProblem]:
    """What is wrong with a `{"KEY": "value", ...}` body, each problem named by key."""
    if not isinstance(body, dict):
        return [FieldProblem("", "must be a JSON object of NAME: \"value\"")]
    if len(body) > MAX_PARAMETERS:
        return [FieldProblem("", f"at most {MAX_PARAMETERS} parameters, not {len(body)}")]
    out = []
    for name, value in body.items():
        if not ENV_NAME.match(name):
            out.append(FieldProblem(name, f"{name!r} is not an environment variable name "
                                          "(letters, digits and '_', not starting with a "
                                          "digit)"))
        elif not isinstance(value, str):
            out.append(FieldProblem(name, f"must be a string, not {type(value).__name__}"))
        elif len(value) > MAX_VALUE or "\x00" in value:
            out.append(FieldProblem(name, f"must be a string of at most {MAX_VALUE} "
                                          "characters without NUL"))
    return out


def resolve(spec: TaskSpec, parameters: Mapping[str, str]) -> TaskSpec:
    """`spec` with its client's parameters under its own env and `${KEY}` in its
    arguments replaced from the result."""
    env = {**parameters, **spec.env}
    arguments = tuple(_REFERENCE.sub(lambda m: env.get(m.group(1), m.group(0)), a)
                      for a in spec.arguments)
    return spec.model_copy(update={"env": env, "arguments": arguments})
