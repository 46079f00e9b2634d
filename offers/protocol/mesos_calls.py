"""The Mesos v1 scheduler calls as the master reads them: pydantic models and `parse_call`.

Fields berth does not know are ignored (Mesos libraries send more than berth reads); a bad
field is a SpecError naming it. Pure: the master's HTTP layer uses it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from offers.problems import FieldProblem, SpecError, problems_from

# -- server side: calls ---------------------------------------------------------------------


class MesosModel(BaseModel):
    """Mesos JSON as read by the master: fields berth does not know are ignored."""

    model_config = ConfigDict(extra="ignore")  # Mesos libraries send fields berth ignores


class MesosValue(MesosModel):
    value: str = Field(min_length=1)


class _Filters(MesosModel):
    refuse_seconds: float | None = Field(None, ge=0, allow_inf_nan=False)


class _FrameworkInfo(MesosModel):
    user: str = ""
    name: str = ""
    id: MesosValue | None = None
    roles: list[str] = Field(default_factory=list)
    role: str | None = None
    capabilities: list[dict[str, Any]] = Field(default_factory=list)
    failover_timeout: float | None = Field(None, ge=0, allow_inf_nan=False)
    hostname: str | None = None
    principal: str | None = Field(None, max_length=256)  # must be who authenticated


class _Subscribe(MesosModel):
    framework_info: _FrameworkInfo


class _Launch(MesosModel):
    task_infos: list[dict[str, Any]]


class _Operation(MesosModel):
    type: str
    launch: _Launch | None = None


class _Accept(MesosModel):
    offer_ids: list[MesosValue]
    operations: list[_Operation] = Field(default_factory=list)
    filters: _Filters | None = None


class _Decline(MesosModel):
    offer_ids: list[MesosValue]
    filters: _Filters | None = None


class _Kill(MesosModel):
    task_id: MesosValue
    agent_id: MesosValue | None = None


class _Acknowledge(MesosModel):
    agent_id: MesosValue | None = None
    task_id: MesosValue
    uuid: str = Field(min_length=1)


class _ReconcileTask(MesosModel):
    task_id: MesosValue
    agent_id: MesosValue | None = None


class _Reconcile(MesosModel):
    tasks: list[_ReconcileTask] = Field(default_factory=list)


CALL_TYPES = ("SUBSCRIBE", "TEARDOWN", "ACCEPT", "DECLINE", "REVIVE", "KILL", "SHUTDOWN",
              "ACKNOWLEDGE", "RECONCILE", "MESSAGE", "REQUEST", "SUPPRESS")


class Call(MesosModel):
    type: str
    framework_id: MesosValue | None = None
    subscribe: _Subscribe | None = None
    accept: _Accept | None = None
    decline: _Decline | None = None
    kill: _Kill | None = None
    acknowledge: _Acknowledge | None = None
    reconcile: _Reconcile | None = None


_BODY_OF = {"SUBSCRIBE": "subscribe", "ACCEPT": "accept", "DECLINE": "decline",
            "KILL": "kill", "ACKNOWLEDGE": "acknowledge"}
SUPPORTED_CALLS = ("SUBSCRIBE", "TEARDOWN", "ACCEPT", "DECLINE", "REVIVE", "KILL",
                   "ACKNOWLEDGE", "RECONCILE", "SUPPRESS")


def parse_call(data: Any) -> Call:
    """Validate a scheduler call's JSON; raise SpecError naming each bad field."""
    if not isinstance(data, dict):
        raise SpecError([FieldProblem("", "a call must be a JSON object")])
    try:
        call = Call.model_validate(data)
    except ValidationError as exc:
        raise SpecError(problems_from(exc)) from None
    if call.type not in SUPPORTED_CALLS:
        raise SpecError([FieldProblem("type", f"{call.type!r} is not a call berth supports; "
                                              f"use one of {', '.join(SUPPORTED_CALLS)}")])
    body = _BODY_OF.get(call.type)
    if body and getattr(call, body) is None:
        raise SpecError([FieldProblem(body, f"is required for a {call.type} call")])
    if call.type == "ACCEPT":
        for i, op in enumerate(call.accept.operations):
            if op.type != "LAUNCH":
                raise SpecError([FieldProblem(f"accept.operations[{i}].type",
                                              f"{op.type!r} is not supported; only LAUNCH")])
            if op.launch is None:
                raise SpecError([FieldProblem(f"accept.operations[{i}].launch",
                                              "is required for a LAUNCH operation")])
    return call
