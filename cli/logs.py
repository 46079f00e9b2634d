"""structlog set-up: key=value lines for people, JSON lines with --log-json.

An exception logged with `log.exception(...)` or `exc_info=True` is rendered, not printed
as `exc_info=True`: a traceback string in the key=value line (newlines escaped, so one
event stays one line for grep), a list of frames in JSON (`dict_tracebacks`), which log
collectors can index.
"""

from __future__ import annotations

import logging
import sys

import structlog


def configure_logging(json: bool = False, level: str = "info") -> None:
    if json:
        tail = [structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer()]
    else:
        tail = [structlog.processors.format_exc_info,
                structlog.processors.KeyValueRenderer(key_order=["timestamp", "level",
                                                                 "event"])]
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            *tail,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
