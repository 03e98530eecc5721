"""A finished run's freed memory leaves the process: glibc's heap before and after trim_heap."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ragtune.train.heap import _libc

# 8 MiB activations, as in a training step once glibc has raised its mmap threshold to its 32 MiB
# ceiling (it does so as large blocks are freed), then freed. In training, fragmentation keeps such
# memory resident; here a trim threshold above the 320 MiB does, so the reference is certain and
# the run does not depend on what the imports allocated.
SCRIPT = """
import sys, torch
from ragtune.train.heap import trim_heap
def rss():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS")) / 1024
start = rss()
big = []
for _ in range(40):
    big.append(torch.ones(2 << 20))  # 8 MiB
del big
after = rss()
released = trim_heap()
print(after - start, rss() - start, int(released))
"""


@pytest.mark.skipif(_libc() is None, reason="glibc only")
def test_trim_heap_gives_back_the_activations_glibc_keeps():
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")},
           "MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, env=env)
    kept, trimmed, released = out.stdout.split()
    assert float(kept) > 300  # the reference: freed, still resident
    assert float(trimmed) < 40 and released == "1"  # trim_heap hands it back
