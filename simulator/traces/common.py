"""What every trace reader shares: opening (gzip or plain), checking cells with errors
that name file, line, column and problem, and the scale from normalized units to berth's.

A trace is gigabytes: readers go through it line by line and keep only what the workload
needs (a few numbers per task inside the simulated window), never the file itself.
"""

from __future__ import annotations

import gzip
import io
import math
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from offers.problems import FieldProblem
from simulator.inputs import InputError

MAX_PROBLEMS = 10  # a broken file is reported by its first problems, not read to its end
MICROSECONDS = 1e6


class TraceError(InputError):
    """A bad trace file: its first problems, each as `file:line: column: problem`."""


class RowProblem(ValueError):
    """One bad cell: raised by a cell parser, turned into a TraceError line by the reader."""

    def __init__(self, column: str, problem: str) -> None:
        super().__init__(f"{column}: {problem}")
        self.column = column
        self.problem = problem


@dataclass(frozen=True)
class Scale:
    """What a normalized 1.0 stands for: the reference machine of a trace whose sizes are
    fractions of its largest machine (Google), or whose memory is 0-100 (Alibaba)."""

    cpus: float
    mem: float  # MiB


class Problems:
    """Problems found in one file; raises once there are too many or the file is done."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.found: list[tuple[int, FieldProblem]] = []

    def add(self, line: int, column: str, problem: str) -> None:
        self.found.append((line, FieldProblem(column, problem)))
        if len(self.found) >= MAX_PROBLEMS:
            self.found.append((line, FieldProblem(
                "", f"stopped reading after {MAX_PROBLEMS} problems")))
            raise TraceError(self.path, self.found)

    def check(self) -> None:
        if self.found:
            raise TraceError(self.path, self.found)


@contextmanager
def open_text(path: Path) -> Iterator[IO[str]]:
    """The file as text, gunzipped on the fly when it starts with gzip's magic bytes
    (whatever its name says)."""
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        binary = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw
        text = io.TextIOWrapper(binary, encoding="utf-8", newline="")
        try:
            yield text
        finally:
            text.detach()


def lines_of(path: Path, problems: Problems) -> Iterator[tuple[int, str]]:
    """(line number, text) of each non-blank line; a corrupt or truncated gzip stream or
    bytes that are not UTF-8 end the file with a problem on the line where they start."""
    number = 0
    try:
        with open_text(path) as fh:
            for number, text in enumerate(fh, start=1):
                if text.strip():
                    yield number, text
    except (EOFError, OSError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        problems.add(number + 1, "", f"cannot read on: {exc or 'the gzip stream ends early'}")
    except UnicodeDecodeError as exc:
        problems.add(number + 1, "", f"not UTF-8 text ({exc.reason})")


# -- cell parsers: text in, value out, or RowProblem naming the column -------------------

Parser = Callable[[str, str], Any]


def integer(low: int | None = None, high: int | None = None) -> Parser:
    def parse(cell: str, column: str) -> int:
        try:
            value = int(cell)
        except ValueError:
            raise RowProblem(column, f"{cell!r} is not a whole number") from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise RowProblem(column, f"{value} is out of range ({_range(low, high)})")
        return value
    return parse


def number(low: float | None = 0.0, high: float | None = None) -> Parser:
    def parse(cell: str, column: str) -> float:
        try:
            value = float(cell)
        except ValueError:
            raise RowProblem(column, f"{cell!r} is not a number") from None
        if not math.isfinite(value):
            raise RowProblem(column, f"{cell!r} is not a finite number")
        if (low is not None and value < low) or (high is not None and value > high):
            raise RowProblem(column, f"{value:g} is out of range ({_range(low, high)})")
        return value
    return parse


def text(cell: str, column: str) -> str:
    return cell


def _range(low: float | None, high: float | None) -> str:
    if high is None:
        return f"at least {low:g}"
    if low is None:
        return f"at most {high:g}"
    return f"{low:g} to {high:g}"


@dataclass(frozen=True)
class Column:
    """One column of a headerless CSV table: its documented name, parser (None: berth
    does not use it, so it is only required to be there) and whether a row may leave it
    empty."""

    name: str
    parse: Parser | None = text
    required: bool = True


def csv_rows(path: Path, columns: tuple[Column, ...], problems: Problems
             ) -> Iterator[tuple[int, list[Any]]]:
    """(line, values) of each good row; a missing, extra or bad cell is a problem naming
    `column N (name)`. Empty optional cells and unused columns read as None."""
    import csv

    width = len(columns)
    labels = [f"column {i + 1} ({c.name})" for i, c in enumerate(columns)]
    used = [(i, c.parse, c.required, labels[i]) for i, c in enumerate(columns)
            if c.parse is not None]
    numbered = lines_of(path, problems)
    current = [0]

    def texts() -> Iterator[str]:
        for number_, line in numbered:
            current[0] = number_
            yield line

    for cells in csv.reader(texts()):
        line = current[0]
        if len(cells) != width:
            if len(cells) < width:
                problems.add(line, labels[len(cells)], f"missing: the line has {len(cells)} "
                                                       f"columns, the table {width}")
            else:
                problems.add(line, f"column {width + 1}", f"unexpected: the line has "
                                                          f"{len(cells)} columns, the table "
                                                          f"{width}")
            continue
        values: list[Any] = [None] * width
        try:
            for i, parse, required, label in used:
                cell = cells[i].strip()
                if cell:
                    values[i] = parse(cell, label)
                elif required:
                    raise RowProblem(label, "empty, but the column is mandatory")
        except RowProblem as exc:
            problems.add(line, exc.column, exc.problem)
            continue
        yield line, values


def seconds(microseconds: int) -> float:
    """A Google timestamp (microseconds; the window opens at 600 s, 0 means "before the
    window") as seconds since the window opened, never negative."""
    return max(0.0, (microseconds - 600 * MICROSECONDS) / MICROSECONDS)
