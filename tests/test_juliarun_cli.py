"""`berth up --config FILE` and `berth framework --config FILE` refuse a JuliaRun
configuration that does not load, naming the field, before anything starts."""

from __future__ import annotations

from click.testing import CliRunner

from cli import main


def _run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_berth_framework_refuses_a_configuration_that_does_not_load(tmp_path):
    config = tmp_path / "config.json"
    config.write_text('{"storage": {"glusterfs": [{"name": "g"}]}}')
    result = _run("framework", "--master", "127.0.0.1:1", "--port", "0", "--data-dir",
                  str(tmp_path / "data"), "--config", str(config))
    assert result.exit_code == 1
    assert "storage.glusterfs: glusterfs volumes are not reachable" in result.output


def test_berth_up_refuses_a_configuration_that_does_not_load(tmp_path):
    config = tmp_path / "config.json"
    config.write_text('{"images": {"julia": {"executable": "sh"}}}')
    result = _run("up", "--data-dir", str(tmp_path / "data"), "--config", str(config))
    assert result.exit_code == 2
    assert "images.julia.image: is required" in result.output
    assert not (tmp_path / "data").exists()  # nothing started, nothing written
