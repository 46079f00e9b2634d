"""A container's CPU time and memory from its cgroup (v1 and v2 layouts), or None."""

from __future__ import annotations

from executor.cgroup_usage import CgroupReader


def test_cgroup_v1_as_cgroupfs_lays_it_out(tmp_path):
    cpu = tmp_path / "cpuacct" / "docker" / "abc"
    mem = tmp_path / "memory" / "docker" / "abc"
    cpu.mkdir(parents=True)
    mem.mkdir(parents=True)
    (cpu / "cpuacct.usage").write_text("5000000000\n")
    (mem / "memory.usage_in_bytes").write_text(str(300 * 2**20))
    (mem / "memory.stat").write_text(f"cache 1\ntotal_inactive_file {100 * 2**20}\n")
    assert CgroupReader(tmp_path).read("abc") == (5e9, 200 * 2**20)


def test_cgroup_v2_under_systemd(tmp_path):
    scope = tmp_path / "system.slice" / "docker-abc.scope"
    scope.mkdir(parents=True)
    (scope / "cpu.stat").write_text("usage_usec 2000000\nuser_usec 1\n")
    (scope / "memory.current").write_text(str(64 * 2**20))
    (scope / "memory.stat").write_text("anon 1\ninactive_file 0\n")
    assert CgroupReader(tmp_path).read("abc") == (2e9, 64 * 2**20)


def test_no_cgroup_here_means_ask_docker(tmp_path):
    assert CgroupReader(tmp_path).read("missing") is None
