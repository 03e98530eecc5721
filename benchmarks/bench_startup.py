"""Start-up time of commands that need no model, each against ``python -c pass`` in the same run.

A new user meets these first: ``ragtune --help``, ``kb list``, ``kb create``, and a typo in an
ingest path. Each runs as a fresh process through the installed ``ragtune`` entry point (the
interpreter start is part of it, so ``python -c pass`` is the floor), in a rotating order, several
rounds, so load on the shared machine hits all alike; the figure is the median wall time and its
excess over the floor. The heavy packages each command imported are read from ``sys.modules``
(tests/test_startup.py asserts they are none).

    .venv/bin/python benchmarks/bench_startup.py --rounds 7
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_common import header, median, table, write_section

TITLE = "Start-up: commands that need no model"
HEAVY = ("torch", "transformers", "sentence_transformers", "lancedb", "llama_cpp", "onnxruntime")
COMMANDS = {
    "python -c pass": None,
    "ragtune --help": ["--help"],
    "ragtune kb list": ["kb", "list"],
    "ragtune kb create NAME": ["kb", "create", "{name}"],
    "ragtune ingest --kb NAME /wrong/path": ["ingest", "--kb", "base", "/no/such/path"],
    "ragtune models list": ["models", "list"],
    "ragtune runs": ["runs"],
}
PROBE = ("import atexit, json, sys\n"
         "atexit.register(lambda: sys.__stderr__.write('\\nMODULES ' + json.dumps(sorted(m for m in {heavy!r} "
         "if m in sys.modules)) + '\\n'))\n"
         "sys.argv = ['ragtune', *{args!r}]\nfrom ragtune.cli.main import main\nmain()\n")


def run(args: list[str] | None, env: dict, cwd: Path, probe: bool = False) -> tuple[float, list[str] | None]:
    if args is None:
        cmd = [sys.executable, "-c", "pass"]
    elif probe:
        cmd = [sys.executable, "-c", PROBE.format(heavy=HEAVY, args=args)]
    else:
        cmd = [str(Path(sys.executable).with_name("ragtune")), *args]
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    took = time.perf_counter() - t
    mods = None
    if probe:
        line = [x for x in out.stderr.splitlines() if x.startswith("MODULES ")]
        mods = json.loads(line[-1][8:]) if line else ["(no report)"]
    return took, mods


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md alone")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ragtune-startup-"))
    env = {**os.environ, "RAGTUNE_DATA_DIR": str(work / "data")}
    run(["kb", "create", "base"], env, work)
    names = list(COMMANDS)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(args.rounds):
        for i, n in enumerate(names[r % len(names):] + names[:r % len(names)]):
            argv = [a.format(name=f"k{r}_{i}") for a in COMMANDS[n]] if COMMANDS[n] else None
            times[n].append(run(argv, env, work)[0])
    mods = {n: run([a.format(name="probe") for a in COMMANDS[n]], env, work, probe=True)[1] if COMMANDS[n] else []
            for n in names}
    floor = median(times["python -c pass"])
    rows = [[n, f"{median(times[n]):.2f}", f"{min(times[n]):.2f}", f"{median(times[n]) - floor:+.2f}",
             ", ".join(mods[n]) or "none"] for n in names]
    slowest = max((n for n in names if COMMANDS[n]), key=lambda n: median(times[n]))
    body = "\n\n".join([
        header(f"Script: `benchmarks/bench_startup.py --rounds {args.rounds}`. Each command a fresh process "
               "through the installed `ragtune` script, a data folder with one empty knowledge base, the "
               "commands in a rotating order; median and best wall time of the rounds. Heavy packages: which of "
               f"{', '.join(HEAVY)} the command had imported when it exited (a separate probe run)."),
        table(["command", "median s", "best s", "over python -c pass", "heavy packages imported"], rows),
        f"**The slowest of these, `{slowest}`, takes {median(times[slowest]):.2f} s, "
        f"{median(times[slowest]) - floor:.2f} s over a bare interpreter start.**",
    ])
    print("\n" + body)
    if not args.no_write:
        write_section(TITLE, body)


if __name__ == "__main__":
    main()
