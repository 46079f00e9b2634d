"""A container's CPU time and memory read straight from its cgroup, when this agent
shares the engine's host: Docker's stats endpoint answers a repeated one-shot query only
at its collector's next tick (about a second), too slow to measure every period.

`CgroupReader.read(container_id)` -> (cpu nanoseconds, memory bytes less inactive file
cache), or None when the cgroup is not where cgroupfs or systemd put it (another host, a
rootless engine): the backend then asks Docker.
"""

from __future__ import annotations

from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


class CgroupReader:
    def __init__(self, root: Path = CGROUP_ROOT):
        self.root = root
        self._found: dict[str, tuple[str, Path, Path] | None] = {}

    def read(self, container_id: str) -> tuple[float, float] | None:
        found = self._found.get(container_id)
        if found is None:
            found = self._found[container_id] = self._locate(container_id)
            if found is None:
                self._found.pop(container_id)  # it may not exist yet; look again later
                return None
        version, cpu_dir, mem_dir = found
        try:
            if version == "v1":
                cpu_ns = float((cpu_dir / "cpuacct.usage").read_text())
                usage = float((mem_dir / "memory.usage_in_bytes").read_text())
                inactive = _stat(mem_dir / "memory.stat", "total_inactive_file")
            else:
                cpu_ns = _stat(cpu_dir / "cpu.stat", "usage_usec") * 1000.0
                usage = float((mem_dir / "memory.current").read_text())
                inactive = _stat(mem_dir / "memory.stat", "inactive_file")
        except (OSError, ValueError):
            self._found.pop(container_id, None)
            return None
        return cpu_ns, max(usage - inactive, 0.0)

    def forget(self, container_id: str) -> None:
        self._found.pop(container_id, None)

    def _locate(self, container_id: str) -> tuple[str, Path, Path] | None:
        names = (f"docker/{container_id}", f"system.slice/docker-{container_id}.scope")
        for name in names:
            cpu, mem = self.root / "cpuacct" / name, self.root / "memory" / name
            if (cpu / "cpuacct.usage").is_file() and (mem / "memory.usage_in_bytes").is_file():
                return "v1", cpu, mem
            unified = self.root / name
            if (unified / "cpu.stat").is_file() and (unified / "memory.current").is_file():
                return "v2", unified, unified
        return None


def _stat(path: Path, key: str) -> float:
    for line in path.read_text().splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return float(value)
    return 0.0
