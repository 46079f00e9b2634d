"""The JuliaRun configuration file of a running framework: read at start, read again on
`/reconfigure` or SIGHUP. A file that does not read or validate leaves the configuration
in force as it was; running jobs are never touched either way (the configuration only
shapes jobs submitted after it).

Its `log` section sends the JuliaRun surface's own log (`berth.juliarun`) to a file.
"""

from __future__ import annotations

import logging
from pathlib import Path

import structlog

from framework.juliarun_config import JuliaRunConfig, parse_config
from offers.problems import FieldProblem, SpecError

log = structlog.get_logger("berth.juliarun")
FILE_LOG = logging.getLogger("berth.juliarun.file")


class JuliaRunSettings:
    """The configuration in force (`config`) and the file it comes from (`path`, or none:
    the empty configuration, which configures no image and so admits no job)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.config = JuliaRunConfig()
        self._handler: logging.Handler | None = None
        if self.path is not None:
            self.config = self._read()
            self._apply_log()

    def _read(self) -> JuliaRunConfig:
        assert self.path is not None
        try:
            text = self.path.read_text()
        except OSError as exc:
            raise SpecError([FieldProblem("", f"cannot read {self.path}: "
                                              f"{exc.strerror or exc}")]) from None
        return parse_config(text)

    def reload(self) -> list[FieldProblem]:
        """Read the file again: [] when the new configuration is in force, else its
        problems (the old one stays)."""
        if self.path is None:
            return [FieldProblem("", "the framework was started without --config")]
        try:
            config = self._read()
        except SpecError as exc:
            log.warning("juliarun_config_refused", path=str(self.path), problems=str(exc))
            return exc.problems
        self.config = config
        self._apply_log()
        log.info("juliarun_config_loaded", path=str(self.path),
                 images=sorted(config.images), volumes=sorted(config.volumes),
                 ignored=config.ignored)
        self.note("configuration loaded from %s", self.path)
        return []

    def note(self, message: str, *args: object) -> None:
        """A line in the configured JuliaRun log file (none configured: nothing)."""
        FILE_LOG.info(message, *args)

    def _apply_log(self) -> None:
        if self._handler is not None:
            FILE_LOG.removeHandler(self._handler)
            self._handler.close()
            self._handler = None
        settings = self.config.log
        FILE_LOG.setLevel({"WARN": "WARNING"}.get(settings.level, settings.level))
        FILE_LOG.propagate = False
        if settings.filename and self.path is not None:
            target = self.path.parent / settings.filename
            self._handler = logging.FileHandler(target)
            self._handler.setFormatter(logging.Formatter(
                "%(asctime)s:%(levelname)s:juliarun:%(message)s", "%d-%b %H:%M:%S"))
            FILE_LOG.addHandler(self._handler)

    def close(self) -> None:
        if self._handler is not None:
            FILE_LOG.removeHandler(self._handler)
            self._handler.close()
            self._handler = None
