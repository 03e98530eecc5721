"""Thread policy, in one place: how many CPU threads inference, embedding and training use.

The rule everywhere: a setting given by the user wins; otherwise we take the cores that other
processes are not keeping busy right now (our own threads are not counted against us). On a
loaded 2-core machine, 2 llama.cpp threads ran 30x slower than 1 and a LoRA step with 2 torch
threads took 5-10 times longer than with 1, so an idle-core count beats the core count.

Users: the llama.cpp and transformers engines (``free_threads``), the embedder
(``torch_threads``: one thread per query, every core for batches) and the training loop
(``threads_per_process``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


def _cpu_times() -> tuple[float, float, float] | None:
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


def busy_elsewhere(sample_s: float = 0.25) -> float | None:
    """Cores kept busy by other processes right now (a short /proc sample; None where unknown).

    Our own threads are left out, so a process that just finished heavy work still sees the
    machine as free; the load average would count it for another minute.
    """
    a = _cpu_times()
    if a is None:
        return None
    time.sleep(sample_s)
    b = _cpu_times()
    if b is None or b[1] <= a[1]:
        return None
    cpus = os.cpu_count() or 1
    others = ((b[0] - a[0]) - (b[2] - a[2])) / (b[1] - a[1]) * cpus
    return max(0.0, others)


def free_threads(requested: int = 0) -> int:
    """Threads for CPU inference and training: the setting if given, else the cores not busy now.

    On a 2-core machine with the other core loaded, 2 llama.cpp threads ran 30x slower than 1,
    so cores busy with other processes are left alone.
    """
    if requested:
        return requested
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    others = busy_elsewhere()
    if others is None:
        try:
            others = os.getloadavg()[0]
        except OSError:
            others = 0.0
    return max(1, min(cpus, cpus - int(others + 0.5)))


def threads_per_process(requested: int, world: int = 1) -> int:
    """Torch threads per training process: the setting, else the cores that are free now, shared out.

    On a loaded 2-core machine a LoRA step with 2 threads took 5-10 times longer than with 1
    (threads wait on each other at every op), so an idle core count beats the core count.
    """
    if requested:
        return requested
    return max(1, free_threads() // max(1, world))


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
