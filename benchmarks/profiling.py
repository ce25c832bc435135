"""Where a message's time goes, measured on running servers: CPU per process and py-spy samples per stage.

Sampling (py-spy, `--idle`) sees what each thread is doing, including a thread blocked in a socket read: an
event-loop server (Rasa, the action server) that waits on Redis or SQL *inside* a request shows it as that
stage, and an idle loop shows as `waiting (idle)`. Samples are sorted into stages by the first rule whose
pattern appears in the stack (the rules are checked in order, so narrower rules come first), unless the
thread is parked (a poll, a queue) outside any query or request.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PY_SPY = Path(sys.executable).with_name("py-spy")
IDLE = "waiting (idle)"


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (Sanic workers, PostgreSQL backends)."""
    tree, found, todo = _children(), [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(tree.get(current, []))
    return found


def set_niceness(pid: int, niceness: int) -> None:
    """Give every thread of `pid` and of its descendants this niceness (nice is per thread on Linux; threads
    started later inherit it). Below 0 needs root (or CAP_SYS_NICE)."""
    for process in process_tree(pid):
        for task in Path(f"/proc/{process}/task").glob("*"):
            try:
                os.setpriority(os.PRIO_PROCESS, int(task.name), niceness)
            except ProcessLookupError:
                continue  # the thread ended meanwhile


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU of these processes so far (every thread; live processes only)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


Roots = int | tuple[int, ...]  # one process, or the replicas of one server (Rasa's), counted together


def pids_of(roots: Roots) -> tuple[int, ...]:
    return roots if isinstance(roots, tuple) else (roots,)


@dataclass
class CpuMeter:
    """CPU seconds each named process tree spends between `start` and `stop`."""

    roots: Mapping[str, Roots]
    _before: dict[str, float] = field(default_factory=dict)
    used: dict[str, float] = field(default_factory=dict)

    def _now(self) -> dict[str, float]:
        return {name: sum(cpu_seconds(process_tree(pid)) for pid in pids_of(roots))
                for name, roots in self.roots.items()}

    def start(self) -> None:
        self._before = self._now()

    def stop(self) -> dict[str, float]:
        after = self._now()
        self.used = {name: after[name] - self._before.get(name, 0.0) for name in self.roots}
        return self.used


@dataclass(frozen=True)
class Rule:
    stage: str
    patterns: tuple[str, ...]

    def matches(self, stack: str) -> bool:
        return any(pattern in stack for pattern in self.patterns)


@dataclass
class Sampler:
    """py-spy recording one process (and its subprocesses) until `stop`."""

    name: str
    pid: int
    output: Path
    rate: int = 200
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(PY_SPY), "record", "--pid", str(self.pid), "--rate", str(self.rate), "--idle", "--subprocesses",
             "--format", "raw", "--output", str(self.output), "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> Counter[str]:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
        self.process.wait(timeout=60)
        return read_raw(self.output)


def read_raw(path: Path) -> Counter[str]:
    """py-spy's raw format: `frame;frame;…;innermost count` per distinct stack."""
    stacks: Counter[str] = Counter()
    if not path.exists():
        return stacks
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[stack] += int(count)
    return stacks


# Where a thread with nothing to do sits: an event loop's poll (uvloop's is C code, so the Python stack ends in
# the function that started the loop), a pool thread's queue, a manager process's socket.
_PARKED = frozenset({"select", "poll", "epoll_wait", "run_forever", "run_until_complete", "run", "serve",
                     "_run_server_forever", "_serve_http_1", "wait", "get", "accept", "recv", "_recv",
                     "_recv_bytes", "sleep", "serve_forever", "main", "_worker"})


_WORKING = ("sqlalchemy/", "psycopg/", "redis/", "httpx/", "httpcore/", "(bot/", "(actions/")


def is_idle(stack: str) -> bool:
    """Parked, and not inside a request's blocking call (a SQL query or a Redis command waits in a poll too)."""
    innermost = stack.rsplit(";", 1)[-1].split(" (", 1)[0]
    parked = innermost.rsplit(".", 1)[-1] in _PARKED or innermost.startswith("process ")
    return parked and not any(marker in stack for marker in _WORKING)


def classify(stacks: Counter[str], rules: Sequence[Rule]) -> Counter[str]:
    stages: Counter[str] = Counter()
    for stack, count in stacks.items():
        if is_idle(stack):
            stages[IDLE] += count
        else:
            stages[next((rule.stage for rule in rules if rule.matches(stack)), "other")] += count
    return stages
