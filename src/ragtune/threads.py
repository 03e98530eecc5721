"""Thread policy, in one place: how many CPU threads inference, embedding and training use.

The rule everywhere: a setting given by the user wins (``generation.threads``, ``train.threads``);
otherwise we take the cores that other processes are not keeping busy (our own threads are not
counted against us). On a loaded 2-core machine, 2 llama.cpp threads ran 30x slower than 1 and a
LoRA step with 2 torch threads took 5-10 times longer than with 1, so an idle-core count beats
the core count.

A momentary sample is not enough on a shared machine: a fresh-clone ``make demo`` took twice as
long when a brief spike elsewhere made one 0.25 s sample halve the threads of a whole run. So

- a choice reads the median of three consecutive 0.25 s windows, so one spike does not decide it;
- a stage that runs for long (an engine answering a whole test set) holds a ``ThreadPolicy``,
  which re-chooses every ``RECHECK_S`` seconds from other processes' CPU use over the whole time
  since its last check (two /proc reads, no sleeping), so the count follows the machine's load;
- what was used is reported: ``ThreadPolicy.report()``, and the engines put ``threads`` in each
  generation's timings (and from there the run log).

Users: the llama.cpp and transformers engines (``ThreadPolicy``), the embedder (``torch_threads``:
one thread per query, every core for batches) and the training loop (``threads_per_process``,
chosen per training run).
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise
from typing import Any

SAMPLE_S = 0.25  # one window of a fresh choice
WINDOWS = 3  # consecutive windows per fresh choice; their median decides
RECHECK_S = 30.0  # a running stage re-chooses at most this often, from the whole time since its last check

Reading = tuple[float, float, float]


def _cpu_times() -> Reading | None:
    """(busy, total) jiffies of the whole machine and this process's own CPU jiffies, from /proc."""
    try:
        with open("/proc/stat") as f:
            fields = [float(x) for x in f.readline().split()[1:]]
        with open("/proc/self/stat") as f:
            own = f.read().rsplit(")", 1)[1].split()
    except (OSError, ValueError, IndexError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    total = sum(fields[:8])
    return total - idle, total, float(own[11]) + float(own[12])  # utime + stime of every thread


def _busy_between(a: Reading | None, b: Reading | None) -> float | None:
    """Cores other processes kept busy between two readings (None where the counters did not move)."""
    if a is None or b is None or b[1] <= a[1]:
        return None
    cpus = os.cpu_count() or 1
    others = ((b[0] - a[0]) - (b[2] - a[2])) / (b[1] - a[1]) * cpus
    return max(0.0, others)


def busy_elsewhere(sample_s: float = SAMPLE_S, windows: int = 1) -> float | None:
    """Cores kept busy by other processes now: the median over ``windows`` consecutive /proc samples.

    Our own threads are left out, so a process that just finished heavy work still sees the
    machine as free; the load average would count it for another minute. None where unknown.
    """
    readings = [_cpu_times()]
    if readings[0] is None:
        return None
    for _ in range(max(1, windows)):
        time.sleep(sample_s)
        readings.append(_cpu_times())
    values = [v for a, b in pairwise(readings) if (v := _busy_between(a, b)) is not None]
    return statistics.median(values) if values else None


def _usable_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _threads_for(others: float) -> int:
    """The cores left when ``others`` cores are busy elsewhere (rounded), at least one."""
    cpus = _usable_cpus()
    return max(1, min(cpus, cpus - int(others + 0.5)))


def free_threads(requested: int = 0) -> int:
    """Threads for CPU inference and training: the setting if given, else the cores not busy now.

    On a 2-core machine with the other core loaded, 2 llama.cpp threads ran 30x slower than 1,
    so cores busy with other processes are left alone. "Now" is the median of three short
    windows (about 0.75 s), so a spike in one of them does not decide.
    """
    if requested:
        return requested
    others = busy_elsewhere(SAMPLE_S, WINDOWS)
    if others is None:
        try:
            others = os.getloadavg()[0]
        except OSError:
            others = 0.0
    return _threads_for(others)


def threads_per_process(requested: int, world: int = 1) -> int:
    """Torch threads per training process: the setting, else the cores that are free now, shared out.

    On a loaded 2-core machine a LoRA step with 2 threads took 5-10 times longer than with 1
    (threads wait on each other at every op), so an idle core count beats the core count.
    Chosen afresh for each training run.
    """
    if requested:
        return requested
    return max(1, free_threads() // max(1, world))


class ThreadPolicy:
    """The thread count of one long-lived stage (a loaded engine), chosen at start and re-checked.

    ``current()`` is called before each unit of work (a generation); every ``recheck_s`` seconds
    it re-chooses from what other processes used over the whole time since the last check, which
    a brief spike cannot swing. A setting (``requested`` > 0) pins the count: no sampling at all.

    >>> ThreadPolicy(2).current()
    2
    """

    def __init__(self, requested: int = 0, recheck_s: float = RECHECK_S):
        self.requested = requested
        self.recheck_s = recheck_s
        self.n = free_threads(requested)
        self.first = self.n
        self.low = self.high = self.n
        self.rechecks = 0
        self._lock = threading.Lock()
        self._mark: tuple[float, Reading | None] | None = None if requested else (time.monotonic(), _cpu_times())

    @property
    def source(self) -> str:
        return "setting" if self.requested else "auto"

    def current(self) -> int:
        """The thread count to use for the next piece of work (re-chosen when a check is due)."""
        if self.requested:
            return self.requested
        with self._lock:
            now = time.monotonic()
            if self._mark is None or now - self._mark[0] < self.recheck_s:
                return self.n
            reading = _cpu_times()
            others = _busy_between(self._mark[1], reading)
            if others is not None:  # counters did not move (or /proc is gone): keep the count and the mark
                self._mark = (now, reading)
                self.n = _threads_for(others)
                self.rechecks += 1
                self.low, self.high = min(self.low, self.n), max(self.high, self.n)
            elif reading is not None and self._mark[1] is None:
                self._mark = (now, reading)
            return self.n

    def report(self) -> dict[str, Any]:
        """What was used: the current count, the first, the range, how it was chosen, how often re-checked."""
        return {"threads": self.n, "first": self.first, "min": self.low, "max": self.high,
                "source": self.source, "rechecks": self.rechecks}


_torch_lock = threading.Lock()


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run a block with ``n`` intra-op torch threads (0 = leave as is), then restore the previous count."""
    import torch  # a core dependency, imported here so that importing this module stays cheap

    with _torch_lock:
        old = torch.get_num_threads()
        if n and n != old:
            torch.set_num_threads(n)
        try:
            yield
        finally:
            if n and n != old:
                torch.set_num_threads(old)
