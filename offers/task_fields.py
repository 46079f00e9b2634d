"""The small field types of task specs (numbers given as strings, ports, argument texts),
apart from the specs so that every spec module (task, health check) can share them."""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo


def number(value: Any) -> Any:
    """Accept Charmander's numbers-as-strings; refuse booleans, which pydantic would coerce."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"must be a finite number, not {value}")
    return value


def finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def stored(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("stored"))


def no_nul(value: str, info: ValidationInfo) -> str:
    """NUL ends a C string: Docker and the kernel would see something else than was asked."""
    if "\x00" in value and not stored(info):
        raise ValueError("must not contain NUL (\\x00) bytes")
    return value


def port(value: Any) -> Any:
    value = number(value)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{value} is not a whole port number")
        value = int(value)
    return value


def text(value: Any) -> Any:
    """Arguments and env values may be given as numbers; Docker wants strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


Port = Annotated[int, BeforeValidator(port), Field(ge=1, le=65535)]
Text = Annotated[str, BeforeValidator(text), AfterValidator(no_nul)]
