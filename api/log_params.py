"""The query of a logs route: `stream=stdout|stderr&tail=N&follow=true`, checked once for
every surface that serves logs (the master's, the framework's), so each names a bad
parameter the same way."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from offers.problems import FieldProblem, SpecError

STREAMS = ("stdout", "stderr")
MAX_TAIL = 10_000_000
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no", "")


@dataclass(frozen=True)
class LogParams:
    stream: str = "stdout"
    tail: int | None = None  # None: the whole log
    follow: bool = False

    def query(self) -> dict[str, str]:
        """The same request as a query, for passing it on."""
        query = {"stream": self.stream, "follow": "true" if self.follow else "false"}
        if self.tail is not None:
            query["tail"] = str(self.tail)
        return query


def log_params(query: Mapping[str, str]) -> LogParams:
    """Read the query; SpecError names each bad parameter."""
    problems = []
    stream = query.get("stream", "stdout")
    if stream not in STREAMS:
        problems.append(FieldProblem("stream", f"must be stdout or stderr, not {stream!r}"))
    tail = None
    text = query.get("tail")
    if text is not None and text != "all":
        if not text.isascii() or not text.isdigit() or int(text) > MAX_TAIL:
            problems.append(FieldProblem("tail", f"must be a whole number of lines from 0 to "
                                                 f"{MAX_TAIL} (or all), not {text!r}"))
        else:
            tail = int(text)
    follow = query.get("follow", "false").lower()
    if follow not in _TRUE + _FALSE:
        problems.append(FieldProblem("follow", f"must be true or false, not {follow!r}"))
    if problems:
        raise SpecError(problems)
    return LogParams(stream, tail, follow in _TRUE)
