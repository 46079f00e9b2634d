"""Logs carry real tracebacks: a logged exception shows where it happened, in both the
key=value lines for people and the JSON lines of --log-json."""

from __future__ import annotations

import json

import pytest
import structlog

from cli.logs import configure_logging


@pytest.fixture
def restore_structlog():
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def _fail_deep_down():
    return {}["no such key"]


def _log_a_failure() -> None:
    log = structlog.get_logger("berth.test")
    try:
        _fail_deep_down()
    except KeyError:
        log.exception("unhandled_error", path="/client/task")


def test_key_value_lines_carry_the_traceback(capsys, restore_structlog):
    configure_logging(json=False)
    _log_a_failure()
    err = capsys.readouterr().err
    assert "exc_info=True" not in err
    assert "Traceback (most recent call last)" in err
    assert "_fail_deep_down" in err and "KeyError" in err
    assert "event='unhandled_error'" in err and err.count("\n") == 1  # still one line


def test_json_lines_carry_the_traceback_as_data(capsys, restore_structlog):
    configure_logging(json=True)
    _log_a_failure()
    [line] = capsys.readouterr().err.splitlines()
    entry = json.loads(line)
    assert "exc_info" not in entry
    [exception] = entry["exception"]
    assert exception["exc_type"] == "KeyError"
    assert "_fail_deep_down" in [frame["name"] for frame in exception["frames"]]


def test_exc_info_given_by_hand_is_rendered_too(capsys, restore_structlog):
    configure_logging(json=False)
    try:
        _fail_deep_down()
    except KeyError:
        structlog.get_logger("berth.test").error("store_write_failed", exc_info=True)
    err = capsys.readouterr().err
    assert "exc_info=True" not in err and "_fail_deep_down" in err
