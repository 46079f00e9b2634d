"""Marathon-style placement constraints: `[field, OPERATOR, value?]`.

`field` is any agent attribute (`nodetype`, `rack`, ...) or `hostname`. The operators say
where the instances of one group (a job, or the tasks of one id in `berth place`) may go:

- `UNIQUE`: no two instances on the same value;
- `CLUSTER value`: only on nodes whose field equals `value`;
- `GROUP_BY [n]`: spread evenly over the field's values (over at least `n` of them);
- `LIKE regex` / `UNLIKE regex`: only where the field fully matches / does not match;
- `MAX_PER n`: at most `n` instances per value.

A node that lacks the attribute satisfies only `UNLIKE` (Marathon's rule). Values are
written as JSON strings, as Marathon does; numbers are accepted for the counts.
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, model_serializer


class Operator(StrEnum):
    UNIQUE = "UNIQUE"
    CLUSTER = "CLUSTER"
    GROUP_BY = "GROUP_BY"
    LIKE = "LIKE"
    UNLIKE = "UNLIKE"
    MAX_PER = "MAX_PER"


# Operators whose answer depends on where the group already runs, not on the node alone.
COUNTING = frozenset({Operator.UNIQUE, Operator.GROUP_BY, Operator.MAX_PER})
_TAKES_TEXT = frozenset({Operator.CLUSTER, Operator.LIKE, Operator.UNLIKE})
_USAGE = "a constraint is [field, OPERATOR, value]"


class ConstraintProblem(ValueError):
    """A problem with one position of a constraint (`at` indexes the list)."""

    def __init__(self, at: int | None, problem: str):
        self.at = at
        super().__init__(f"[{at}]: {problem}" if at is not None else problem)


class Constraint(BaseModel):
    """One parsed constraint; written back out as Marathon's list."""

    model_config = ConfigDict(frozen=True)

    field: str
    operator: Operator
    value: str | None = None  # CLUSTER's value, LIKE's and UNLIKE's pattern
    count: int | None = None  # GROUP_BY's n, MAX_PER's n

    @property
    def counting(self) -> bool:
        return self.operator in COUNTING

    @cached_property
    def pattern(self) -> re.Pattern[str] | None:
        return re.compile(self.value) if self.operator in (Operator.LIKE, Operator.UNLIKE) \
            else None

    def accepts(self, value: str | None) -> bool:
        """Whether a node whose field has `value` (None: no such attribute) may be chosen,
        before counting instances."""
        if value is None:
            return self.operator is Operator.UNLIKE
        if self.operator is Operator.CLUSTER:
            return value == self.value
        if self.operator is Operator.LIKE:
            return self.pattern.fullmatch(value) is not None
        if self.operator is Operator.UNLIKE:
            return self.pattern.fullmatch(value) is None
        return True

    def __str__(self) -> str:
        extra = self.value if self.value is not None else self.count
        return " ".join(str(p) for p in (self.field, self.operator, extra) if p is not None)

    @model_serializer
    def _as_list(self) -> list[Any]:
        extra = self.value if self.value is not None else (
            str(self.count) if self.count is not None else None)
        return [self.field, str(self.operator)] + ([extra] if extra is not None else [])


def parse_constraint(data: Any) -> Constraint:
    """A constraint from its JSON list; ConstraintProblem names the bad position."""
    if isinstance(data, Constraint):
        return data
    if not isinstance(data, list | tuple):
        raise ConstraintProblem(None, f"must be a JSON list; {_USAGE}")
    if len(data) < 2:
        raise ConstraintProblem(None, f"needs a field and an operator; {_USAGE}")
    field, op = data[0], data[1]
    if not isinstance(field, str) or not field.strip():
        raise ConstraintProblem(0, "must be an attribute name or 'hostname'")
    if not isinstance(op, str) or op not in Operator.__members__:
        raise ConstraintProblem(1, f"{op!r} is not an operator; one of "
                                   f"{', '.join(Operator)}")
    operator = Operator(op)
    if len(data) > 3:
        raise ConstraintProblem(3, f"unexpected; {_USAGE}")
    value = data[2] if len(data) == 3 else None
    if operator is Operator.UNIQUE:
        if len(data) == 3:
            raise ConstraintProblem(2, "UNIQUE takes no value")
        return Constraint(field=field, operator=operator)
    if operator in _TAKES_TEXT:
        if value is None:
            raise ConstraintProblem(None, f"{operator} needs a value: [{field!r}, "
                                          f"{str(operator)!r}, value]")
        if not isinstance(value, str):
            raise ConstraintProblem(2, "must be a string")
        if operator is not Operator.CLUSTER:
            try:
                re.compile(value)
            except re.error as exc:
                raise ConstraintProblem(2, f"{value!r} is not a regular expression: "
                                           f"{exc}") from None
        return Constraint(field=field, operator=operator, value=value)
    # GROUP_BY [n], MAX_PER n
    if value is None:
        if operator is Operator.MAX_PER:
            raise ConstraintProblem(None, f"MAX_PER needs a number: [{field!r}, 'MAX_PER', n]")
        return Constraint(field=field, operator=operator)
    return Constraint(field=field, operator=operator, count=_count(value))


def _count(value: Any) -> int:
    if isinstance(value, bool):
        raise ConstraintProblem(2, "must be a whole number, not true/false")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise ConstraintProblem(2, f"{value!r} is not a whole number")
    if value < 1:
        raise ConstraintProblem(2, f"must be at least 1, not {value}")
    return value
