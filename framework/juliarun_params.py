"""JuliaRun's parameter values as its HTTP API sends them, read into berth's units.

`cpu` and `memory` are Kubernetes quantities (JuliaRun ran on Kubernetes: `"100m"`, `"1"`,
`"512Mi"`, `"2Gi"`); `ports` is the API's `"name:container:service,..."` form with its
shorthands. Each reader raises ValueError saying what is wrong, for the caller to name the
parameter. The quantity grammar is Kubernetes' own (resource.Quantity); the only library
that implements it is the whole Kubernetes client, so the few lines are written here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|"
                       r"m|k|M|G|T|P|E)?)$")
_BINARY = {"Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50,
           "Ei": 2 ** 60}
_DECIMAL = {"m": Decimal("0.001"), "": Decimal(1), "k": Decimal(10) ** 3,
            "M": Decimal(10) ** 6, "G": Decimal(10) ** 9, "T": Decimal(10) ** 12,
            "P": Decimal(10) ** 15, "E": Decimal(10) ** 18}
MIB = 2 ** 20
_SUFFIXES = "Ki, Mi, Gi, Ti, Pi, Ei (powers of 1024), k, M, G, T, P, E (of 1000), m"


def quantity(text: str) -> Decimal:
    """A Kubernetes quantity (`"100m"`, `"1.5"`, `"512Mi"`, `"1e3"`) as an exact number."""
    match = _QUANTITY.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a quantity: a number with an optional suffix "
                         f"({_SUFFIXES})")
    number, exponent, suffix = match.groups()
    try:
        value = Decimal(number)
        if exponent:
            value = value.scaleb(int(exponent[1:]))
    except (InvalidOperation, ValueError):
        raise ValueError(f"{text!r} is not a quantity") from None
    if suffix in _BINARY:
        return value * _BINARY[suffix]
    return value * _DECIMAL[suffix or ""]


def cores(text: str) -> float:
    """`cpu`: cores, `"100m"` being a tenth of one."""
    value = quantity(text)
    if value <= 0:
        raise ValueError(f"{text!r} is not a positive number of cores")
    return float(value)


def mebibytes(text: str) -> float:
    """`memory`: bytes with a suffix (`"512Mi"`, `"2Gi"`, `"1G"`), in MiB."""
    value = quantity(text)
    if value <= 0:
        raise ValueError(f"{text!r} is not a positive amount of memory")
    if text.strip().endswith("m"):
        raise ValueError(f"{text!r}: millibytes are not memory; use Mi or Gi")
    return float(value / MIB)


def mebibytes_text(mib: float) -> str:
    """The quantity for a size in MiB (`512.0` -> `"512Mi"`), as the API shows it back."""
    for suffix, factor in (("Ti", 2 ** 20), ("Gi", 2 ** 10), ("Mi", 1)):
        if mib >= factor and float(mib / factor).is_integer():
            return f"{int(mib // factor)}{suffix}"
    return f"{Decimal(str(mib)) * MIB:f}"


@dataclass(frozen=True)
class PortSpec:
    """One exposed port: the container listens on `container`, the service (berth: the
    agent's host port) on `service`."""

    name: str
    container: int
    service: int

    def text(self) -> str:
        return f"{self.name}:{self.container}:{self.service}"


_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")


def ports(text: str) -> tuple[PortSpec, ...]:
    """`"http:80:80,https:443:443"`; a name left out is `port<container>`, a single number
    is the service port and the container's (`"80,443"`, `"http:80"`); `""` is none."""
    out: list[PortSpec] = []
    for item in (p.strip() for p in text.split(",") if p.strip()):
        parts = item.split(":")
        if len(parts) == 3:
            name, numbers = parts[0], parts[1:]
        elif len(parts) == 2 and not parts[0].isdigit():
            name, numbers = parts[0], parts[1:] * 2
        elif len(parts) == 2:
            name, numbers = "", parts
        elif len(parts) == 1:
            name, numbers = "", parts * 2
        else:
            raise ValueError(f"{item!r} is not name:container:service")
        container, service = (_port(n, item) for n in numbers)
        name = name or f"port{container}"
        if not _NAME.match(name):
            raise ValueError(f"{item!r}: {name!r} is not a port name (a letter, then "
                             "letters, digits, '_' or '-')")
        if name in {p.name for p in out}:
            raise ValueError(f"port name {name!r} is given twice")
        if service in {p.service for p in out}:
            raise ValueError(f"service port {service} is given twice")
        out.append(PortSpec(name, container, service))
    return tuple(out)


def _port(text: str, item: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 65535:
        raise ValueError(f"{item!r}: {text!r} is not a port number (1 to 65535)")
    return int(text)


def ports_text(specs: tuple[PortSpec, ...]) -> str:
    return ",".join(p.text() for p in specs)


_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"{text!r} is not true or false")


def whole(text: str, least: int = 0, most: int = 100_000) -> int:
    stripped = text.strip()
    if not (stripped.isascii() and stripped.isdigit()) or not least <= int(stripped) <= most:
        raise ValueError(f"{text!r} is not a whole number from {least} to {most}")
    return int(stripped)


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def envvars(text: str) -> dict[str, str]:
    """`"A=1,B=two"` (also `;` between them): the names must be environment names."""
    out: dict[str, str] = {}
    for item in (i for i in re.split(r"[,;]", text) if i.strip()):
        name, sep, value = item.strip().partition("=")
        if not sep or not _ENV_NAME.match(name):
            raise ValueError(f"{item.strip()!r} is not NAME=value with NAME an environment "
                             "variable name")
        out[name] = value
    return out


def names(text: str) -> tuple[str, ...]:
    """A comma separated list of volume names (`"data,scratch"`)."""
    return tuple(n.strip() for n in text.split(",") if n.strip())
