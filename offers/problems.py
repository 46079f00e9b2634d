"""Field-level problems with user input, in the shape every berth error reports them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import ValidationError


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with one field: what an operator needs to fix the input."""

    field: str
    problem: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "problem": self.problem}

    def __str__(self) -> str:
        return f"{self.field}: {self.problem}" if self.field else self.problem


# A validator that checks the items of a JSON list itself (a constraint's `[field, OP,
# value]`) names the bad item by starting its message with `[2]: `; that joins the path.
_INNER_PATH = re.compile(r"^((?:\[\d+\])+): (.*)$", re.DOTALL)
# A model validator that checks fields together names the one at fault the same way,
# by a dotted path (`health_check.tcp.port: ...`), joined to where the model sits.
_DOTTED_PATH = re.compile(r"^([A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[\d+\])+): (.*)$", re.DOTALL)


def _field_path(loc: tuple) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def problems_from(exc: ValidationError) -> list[FieldProblem]:
    """Turn a pydantic error into problems named by dotted field path (`ports[1].host_port`)."""
    return problems_from_errors(exc.errors(include_url=False))


def problems_from_errors(errors: list[dict]) -> list[FieldProblem]:
    """`problems_from` for a list of pydantic's error dicts (rewritten by a caller)."""
    out = []
    for err in errors:
        # Errors raised by model validators carry the field in the message ("field: problem").
        msg = err["msg"].removeprefix("Value error, ")
        loc = tuple(p for p in err["loc"] if p not in ("function-after",))
        if not loc and ": " in msg and msg.split(": ", 1)[0].replace("_", "").isalnum():
            field, msg = msg.split(": ", 1)
            out.append(FieldProblem(field, msg))
            continue
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "missing":
            msg = "is required"
        # Say it in JSON's words: callers send lists and objects, not tuples and dicts.
        msg = msg.replace("a valid tuple", "a JSON list").replace("a valid dictionary",
                                                                   "a JSON object")
        path = _field_path(loc)
        inner = _INNER_PATH.match(msg)
        dotted = _DOTTED_PATH.match(msg)
        if inner and path:
            path, msg = path + inner.group(1), inner.group(2)
        elif dotted:
            path = f"{path}.{dotted.group(1)}" if path else dotted.group(1)
            msg = dotted.group(2)
        out.append(FieldProblem(path, msg))
    return out


class SpecError(ValueError):
    """Input that cannot be accepted; carries every problem found, not just the first."""

    def __init__(self, problems: list[FieldProblem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))
