"""Hand a finished training run's freed memory back to the system (glibc's malloc, Linux).

PyTorch on CPU allocates every tensor with ``malloc``. glibc serves a large block with its own
``mmap`` (returned on ``free``) only above a threshold that it raises each time such a block is
freed, up to 32 MiB; after the first steps of a run the activations (8 MiB hidden states, 22 MiB
MLP activations of a RAFT batch of the bundled model) come from the heap, and freed heap
blocks stay resident. Measured on the knowledge example's RAFT training (bf16, gradient
checkpointing): live tensors ~0.4 GB above the model, peak 3.5 GB; with the threshold fixed at
1 MiB the peak was 1.8 GB but training ran at 0.54x the tokens/s, so the threshold is left alone
during training (``benchmarks/RESULTS.md``, "RAFT peak memory and tokens/s").

What is cheap is giving the kept memory back once a run is over (``malloc_trim``), so a longer
process (``ragtune compare``: answering, the next contender's training) does not start its next
stage on top of it. ``trim_heap`` does nothing outside glibc (another libc, macOS, Windows).
"""

from __future__ import annotations

import ctypes
import platform
from functools import lru_cache


@lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def trim_heap() -> bool:
    """Return the heap's free memory to the system; True where glibc released some."""
    libc = _libc()
    return bool(libc is not None and libc.malloc_trim(0))
