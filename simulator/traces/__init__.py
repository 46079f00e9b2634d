"""Public cluster traces as berth workloads and clusters: `--trace FORMAT:PATH[,PATH...]`.

Each format has its reader module (`read(tables, horizon, scale) -> Trace`); this module
names the formats, tells which table each given file is, and picks the reference machine
that normalized sizes are scaled to. docs/traces.md has every field's mapping. berth's
own recorded history is not a file format: `berth_history` reads it from the framework's
store (`--replay-from`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from offers.problems import FieldProblem, SpecError
from simulator.traces import alibaba2018, azure, google2011, google2019
from simulator.traces.common import Scale, TraceError
from simulator.traces.workload import Trace, TraceWorkload

__all__ = [
    "FORMATS",
    "Scale",
    "Trace",
    "TraceError",
    "TraceWorkload",
    "parse_trace_option",
    "read_trace",
]


@dataclass(frozen=True)
class Format:
    read: Callable[[dict[str, list[Path]], float, Scale], Trace]
    tables: tuple[str, ...]  # the first is the task table, which must be given
    scale: Scale  # the default reference machine


# Reference machines: the traces publish sizes only as fractions of their largest machine,
# so these are assumptions (docs/traces.md), changed with --trace-scale.
FORMATS: dict[str, Format] = {
    "google2011": Format(google2011.read, google2011.TABLES, Scale(cpus=32, mem=131072)),
    "google2019": Format(google2019.read, google2019.TABLES, Scale(cpus=32, mem=131072)),
    "alibaba2018": Format(alibaba2018.read, alibaba2018.TABLES, Scale(cpus=96, mem=524288)),
    "azure": Format(azure.read, azure.TABLES, Scale(cpus=1, mem=1)),
}


@dataclass(frozen=True)
class TraceSource:
    format: str
    tables: dict[str, list[Path]]


def _problem(text: str) -> SpecError:
    return SpecError([FieldProblem("trace", text)])


def parse_trace_option(text: str) -> TraceSource:
    """`FORMAT:PATH[,PATH...]`, each PATH a file, a directory (its files, sorted) or
    `TABLE=PATH`; a file's table is told by its name or its folders' names."""
    name, sep, rest = text.partition(":")
    fmt = FORMATS.get(name.strip())
    if not sep or fmt is None:
        raise _problem(f"{text!r}: give FORMAT:PATH[,PATH...] with FORMAT one of "
                       f"{', '.join(FORMATS)}")
    tables: dict[str, list[Path]] = {}
    for piece in filter(None, (p.strip() for p in rest.split(","))):
        table, eq, path_text = piece.partition("=")
        if eq and table in fmt.tables:
            named: str | None = table
        else:
            named, path_text = None, piece
        path = Path(path_text)
        if path.is_dir():
            # a folder as downloaded: the files of the tables berth reads, the others
            # (usage tables, checksums, schema) left alone
            files = sorted(p for p in path.rglob("*")
                           if p.is_file() and not p.name.startswith("."))
            found_any = False
            for file in files:
                found = named or _table_of(file, fmt.tables)
                if found is not None:
                    tables.setdefault(found, []).append(file)
                    found_any = True
            if not found_any:
                raise _problem(f"{path}: the folder has no file of the tables "
                               f"{', '.join(fmt.tables)}")
        elif path.is_file():
            found = named or (fmt.tables[0] if len(fmt.tables) == 1
                              else _table_of(path, fmt.tables))
            if found is None:
                raise _problem(f"{path}: cannot tell which table this is; name it "
                               f"TABLE={path} with TABLE one of {', '.join(fmt.tables)}")
            tables.setdefault(found, []).append(path)
        else:
            raise _problem(f"{path}: no such file or folder")
    if fmt.tables[0] not in tables:
        raise _problem(f"{name} needs its {fmt.tables[0]} table (give a file or folder "
                       f"named after it, or {fmt.tables[0]}=PATH)")
    return TraceSource(name, tables)


def _table_of(path: Path, tables: tuple[str, ...]) -> str | None:
    """The table a file's own name, else its nearest folder's name, mentions."""
    for part in reversed(path.parts):
        hits = [t for t in tables if t in part]
        if len(hits) == 1:
            return hits[0]
    return None


def parse_scale(text: str | None, default: Scale) -> Scale:
    """`cpus:N,mem:MiB` (either or both) over the format's reference machine."""
    if not text:
        return default
    values = {"cpus": default.cpus, "mem": default.mem}
    for piece in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = piece.partition(":")
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if not sep or key.strip() not in values:
            raise SpecError([FieldProblem("trace-scale", f"{piece!r} is not cpus:N or "
                                                         "mem:MiB")])
        if not 0 < number < float("inf"):
            raise SpecError([FieldProblem(f"trace-scale.{key.strip()}",
                                          f"{value.strip()!r} is not a positive number")])
        values[key.strip()] = number
    return Scale(cpus=values["cpus"], mem=values["mem"])


def read_trace(source: TraceSource, horizon: float, scale: Scale | None = None) -> Trace:
    """The workload (and cluster, if the trace has machines) of the window [0, horizon]
    seconds from the trace's start. Raises TraceError naming file, line and column."""
    fmt = FORMATS[source.format]
    return fmt.read(source.tables, horizon, scale or fmt.scale)
