"""A load on the host itself, outside any container: what a node's own programs (Jisto's
incumbent) look like to the agent. Busy-loop processes and one that holds memory, each
a child of this process, ended by their own handles."""

from __future__ import annotations

import subprocess
import sys
import time

_BUSY = "while True:\n    pass\n"
_HOLD = ("import sys, time\n"
         "block = b'\\x01' * (int(sys.argv[1]) * 1024 * 1024)\n"  # written: resident
         "print('held', flush=True)\n"
         "time.sleep(3600)\n")


class HostLoad:
    """`start()` `cpus` busy processes and one holding `mem` MiB; `stop()` ends them."""

    def __init__(self, cpus: int = 1, mem: int = 0):
        self.cpus, self.mem = cpus, mem
        self._procs: list[subprocess.Popen] = []
        self.cpu_started: float | None = None  # time.perf_counter() of the busy loops
        self.mem_spawned: float | None = None  # ... of the process that writes the memory
        self.mem_held: float | None = None  # ... and of the memory, once all written

    def start(self) -> None:
        """Returns once the memory is held (the busy loops start first)."""
        for _ in range(self.cpus):
            self._procs.append(subprocess.Popen([sys.executable, "-c", _BUSY]))
        self.cpu_started = time.perf_counter()
        self.mem_spawned = time.perf_counter()
        if self.mem > 0:
            holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(self.mem)],
                                      stdout=subprocess.PIPE, text=True)
            self._procs.append(holder)
            assert holder.stdout is not None
            holder.stdout.readline()  # "held"
        self.mem_held = time.perf_counter()

    def stop(self) -> None:
        for proc in self._procs:
            proc.kill()
        for proc in self._procs:
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        self._procs.clear()

    def __enter__(self) -> HostLoad:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
