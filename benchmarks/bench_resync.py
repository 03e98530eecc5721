"""Re-sync of an unchanged corpus: the 2,067 SQuAD paragraphs as 2,067 .txt files, already in a
knowledge base, ingested again with ``--sync``. Nothing changed, so nothing may be re-embedded
and no version made; the target is under 3 s.

Measured two ways: the command a user types (``ragtune ingest DIR --kb NAME --sync``, a fresh
process, so Python and library start-up count), and the Python API call in a warm process
(``KnowledgeBase.open(...).ingest([DIR], sync=True)``) with its breakdown. As a reference, the
floor any tool pays: walking the folder and hashing every file's bytes.

    .venv/bin/python benchmarks/bench_resync.py --repeats 5
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

from bench_common import DEFAULT_WORK, SQUAD_KB, header, median, squad_kb, table, write_section

TITLE = "RAG: re-sync of an unchanged corpus"


def hash_floor(folder: Path) -> float:
    t = time.perf_counter()
    for f in sorted(folder.rglob("*.txt")):
        hashlib.sha256(f.read_bytes()).hexdigest()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK)
    ap.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md alone")
    args = ap.parse_args()

    from ragtune.kb import KnowledgeBase

    settings, kb, folder, index = squad_kb(args.work)
    n_files, n_chunks, version0 = len(index), kb.store.count(), kb.version()
    exe = Path(sys.executable).with_name("ragtune")
    cmd = [str(exe), "ingest", str(folder), "--kb", SQUAD_KB, "--sync", "--json"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGTUNE_")}
    env["RAGTUNE_DATA_DIR"] = str(settings.data_dir)
    cli_help = [str(exe), "--help"]

    rows, cli, api, floor, startup = [], [], [], [], []
    for r in range(args.repeats):
        t = time.perf_counter()
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=args.work)
        cli.append(time.perf_counter() - t)
        if out.returncode != 0:
            raise SystemExit(f"ragtune ingest failed: {out.stderr.strip()}")
        t = time.perf_counter()
        subprocess.run(cli_help, env=env, capture_output=True, cwd=args.work, check=True)
        startup.append(time.perf_counter() - t)
        t = time.perf_counter()
        rep = KnowledgeBase.open(settings, SQUAD_KB).ingest([folder], sync=True, show_progress=False)
        api.append(time.perf_counter() - t)
        assert not rep.changed and len(rep.unchanged) == n_files, rep.to_dict()
        floor.append(hash_floor(folder))
        rows.append([r + 1, f"{cli[-1]:.2f}", f"{startup[-1]:.2f}", f"{api[-1]:.2f}",
                     f"{rep.timings['read_chunk_s']:.2f}", f"{rep.timings['store_s']:.3f}", f"{floor[-1]:.2f}"])
        print(rows[-1])
    assert kb.version() == version0, "an unchanged re-sync must not make a version"

    body = "\n\n".join([
        header(f"Script: `benchmarks/bench_resync.py --repeats {args.repeats}`. Knowledge base of all "
               f"{n_files} SQuAD dev paragraphs ({n_files} .txt files, {n_chunks} chunks), re-ingested "
               "unchanged with `--sync`; every repeat found all files unchanged and made no new version."),
        table(["repeat", "CLI `ragtune ingest --sync` s", "of which CLI start-up (`ragtune --help`) s",
               "API `kb.ingest(sync=True)` s", "API: walk+hash+compare s", "API: store s",
               "floor: hash every file s"], rows),
        f"**Re-sync of the unchanged {n_files}-document corpus: {median(cli):.2f} s from the command line "
        f"(median of {args.repeats}; start-up alone {median(startup):.2f} s), {median(api):.2f} s through the "
        f"API in a warm process** (target < 3 s). Reading and hashing every file costs {median(floor):.2f} s "
        "on its own.",
    ])
    print("\n" + body)
    if not args.no_write:
        write_section(TITLE, body)


if __name__ == "__main__":
    main()
