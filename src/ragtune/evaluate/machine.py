"""The machine probe: where the numbers of a run were measured, stored with the run's results."""

from __future__ import annotations

import os
import platform
from typing import Any

from ragtune.runlog import library_versions


def machine_info() -> dict[str, Any]:
    """Where the numbers were measured: OS, CPU, cores, memory, library versions."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or "",
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        info["memory_gb"] = round(pages * page_size / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    info["versions"] = library_versions()
    return info
