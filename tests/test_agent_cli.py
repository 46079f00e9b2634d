"""`berth agent` option parsing: bad input is refused with the option named."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from cli import main
from cli.agent import agent_config, container_policy, parse_attributes
from executor.container_spec import ContainerPolicy


@pytest.mark.parametrize(("args", "problem"), [
    (["--resources", "cpus:lots"], "--resources: cpus: 'lots' is not a number"),
    (["--resources", "gpus:1"], "--resources: 'gpus' is not a resource"),
    (["--headroom", "mem:-5"], "--headroom"),
    (["--attributes", "rack"], "--attributes: 'rack' is not key=value"),
    (["--allow-volume", "relative/path"], "--allow-volume: 'relative/path' is not an absolute"),
    (["--cap-add", "WIZARDRY"], "--cap-add: 'WIZARDRY' is not a Linux capability"),
    (["--pids-limit", "-1"], "--pids-limit"),
])
def test_bad_options_are_refused_before_anything_starts(args, problem):
    result = CliRunner().invoke(main, ["agent", "--master", "127.0.0.1:1", *args])
    assert result.exit_code == 2
    assert problem in result.output


def test_config_from_options(tmp_path):
    config = agent_config("10.0.0.1:5050", hostname="n1", nodetype="gpu",
                          attributes="rack=r1,nodetype=lab",
                          resources="cpus:2;ports:[31000-31009]", headroom="mem:128",
                          data_dir=tmp_path)
    assert config.master_url == "http://10.0.0.1:5050"
    assert config.attributes == {"rack": "r1", "nodetype": "gpu"}  # --nodetype wins
    assert config.limits.cpus == 2 and config.limits.mem is None
    assert config.limits.ports == ((31000, 31009),)
    assert config.headroom.mem == 128 and config.headroom.cpus == 0
    assert agent_config("https://m.example:443/", data_dir=tmp_path).master_url == \
        "https://m.example:443"
    assert parse_attributes("", None) == {}


@pytest.mark.parametrize("command", ["agent", "up"])
def test_container_policy_flags_are_checked_by_agent_and_up(command, tmp_path):
    args = ["--master", "127.0.0.1:1"] if command == "agent" else ["--data-dir", str(tmp_path)]
    result = CliRunner().invoke(main, [command, *args, "--cap-add", "sys_wizard"])
    assert result.exit_code == 2
    assert "--cap-add: 'sys_wizard' is not a Linux capability" in result.output
    assert container_policy(0, True, ("net_admin",)) == ContainerPolicy(
        pids_limit=0, allow_new_privileges=True, cap_add=("NET_ADMIN",))
