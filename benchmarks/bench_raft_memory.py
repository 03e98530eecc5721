"""RAFT training memory: peak resident memory and tokens/s of ``ragtune train raft`` on the knowledge
example, with and without gradient checkpointing, in float32 and with bf16 autocast.

Each configuration runs ``ragtune train raft`` in a fresh process, which reports its own kernel
high-water mark (``VmHWM`` in ``/proc/self/status``) at exit: everything the command holds at its
peak (model, embedder, tokenizer, activations), nothing of this script. The data is the knowledge
example's RAFT training as ``ragtune compare --example knowledge`` builds it: its ``[train]`` and
``[train.raft]`` settings (batch 8, 1 distractor, 20% without the source, LoRA r=16, lr 1e-3,
``max_seq_len`` 512, long examples skipped), on its first ``--docs`` paragraphs and ``--questions``
questions taken one per paragraph in turn, or on a compare workspace's own files (``--data`` and
``--corpus``: ``.ragtune/experiments/knowledge/train/raft.jsonl`` and ``.../docs``). Steps are capped
with ``--max-steps``; no GGUF export.

    .venv/bin/python benchmarks/bench_raft_memory.py --max-steps 3 --threads 2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_common import ROOT, header, table, write_section

TITLE = "Fine-tuning: RAFT peak memory and tokens/s"
KNOWLEDGE = ROOT / "examples" / "knowledge" / "data"
# Runs the CLI in this process and prints the process's high-water mark when it exits.
WRAPPER = """
import atexit, sys
def _hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            sys.stderr.write("\\nVMHWM_KB " + line.split()[1] + "\\n")
atexit.register(_hwm)
sys.argv = ["ragtune", *sys.argv[1:]]
from ragtune.cli.main import main
main()
"""


def example_files(folder: Path, docs: int, questions: int) -> tuple[Path, Path]:
    """The knowledge example's first ``docs`` paragraphs as text files, and ``questions`` of their
    questions (one per paragraph in turn) as a QA file naming each paragraph's file."""
    corpus = [json.loads(x) for x in (KNOWLEDGE / "corpus.jsonl").read_text().splitlines()][:docs]
    doc_dir = folder / "docs"
    doc_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for d in corpus:
        paths[d["id"]] = (doc_dir / (d["id"].replace(":", "_") + ".txt")).resolve()
        paths[d["id"]].write_text(d["text"], encoding="utf-8")
    per_doc: dict[str, list[dict]] = {}
    for x in (KNOWLEDGE / "qa.jsonl").read_text().splitlines():
        r = json.loads(x)
        if r["doc_id"] in paths:
            per_doc.setdefault(r["doc_id"], []).append({"id": r["id"], "question": r["question"],
                                                        "answer": r["answers"][0], "doc_id": str(paths[r["doc_id"]])})
    queues = list(per_doc.values())
    rows = [q[i] for i in range(max(map(len, queues))) for q in queues if i < len(q)][:questions]
    qa = folder / "raft.jsonl"
    qa.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return qa, doc_dir


def run_one(data: Path, corpus: Path, work: Path, precision: str, gc: bool, micro: int,
            args: argparse.Namespace) -> dict:
    """One fresh ``ragtune train raft`` process; ``micro`` examples per micro-batch (8 per step, as the
    example: 8 = one micro-batch, 2 = four accumulated ones, the same step)."""
    name = f"raft-{precision}-{'gc' if gc else 'nogc'}-{micro}"
    cli = ["--data-dir", str(work), "train", "raft", "--data", str(data), "--corpus", str(corpus), "--name", name,
           "--distractors", "1", "--p-drop", "0.2", "--epochs", "2", "--lr", "1e-3",
           "--batch-size", str(micro), "--grad-accum", str(8 // micro), "--lora-r", "16", "--max-seq-len", "512",
           "--skip-long", "--val-fraction", "0",
           "--max-steps", str(args.max_steps), "--precision", precision, "--threads", str(args.threads),
           "--gradient-checkpointing" if gc else "--no-gradient-checkpointing", "--checkpoint-every", "0",
           "--no-progress", "--json", "--overwrite", "--no-export-gguf"]
    res = subprocess.run([sys.executable, "-c", WRAPPER, *cli], capture_output=True, text=True, cwd=ROOT)
    if res.returncode != 0:
        raise SystemExit(f"{name} failed:\n{res.stderr[-3000:]}")
    hwm = next(int(line.split()[1]) for line in res.stderr.splitlines() if line.startswith("VMHWM_KB"))
    rec = json.loads(res.stdout)
    m = rec["metrics"]
    out = {"precision": m["precision"], "gc": m.get("gradient_checkpointing", gc), "micro": micro,
           "peak_mb": hwm / 1024, "tokens_per_s": m["tokens_per_s"], "steps": m["steps"], "tokens": m["tokens"],
           "seconds": m["seconds"],
           "n_train": m["n_train"], "first_loss": m["first_loss"], "final_loss": m["final_loss"],
           "examples_sha256": rec["extra"]["examples_sha256"]}
    print(json.dumps(out), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--max-steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2, help="torch threads (the machine's cores; pinned, not sampled)")
    ap.add_argument("--configs", default="fp32:off,fp32:on,bf16:off,bf16:on,bf16:off:2,bf16:off:1",
                    help="precision:checkpointing[:examples per micro-batch, of the step's 8], ...")
    ap.add_argument("--docs", type=int, default=12)
    ap.add_argument("--questions", type=int, default=40)
    ap.add_argument("--data", type=Path, help="a RAFT QA file (default: built from the knowledge example)")
    ap.add_argument("--corpus", type=Path, help="its passages' folder (with --data)")
    ap.add_argument("--note", default="", help="a line for RESULTS.md (other load, the reference run)")
    ap.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-raft-mem-"))
    data, corpus = (args.data.resolve(), args.corpus.resolve()) if args.data else \
        example_files(work / "input", args.docs, args.questions)
    rows = []
    for spec in args.configs.split(","):
        precision, gc, *micro = spec.split(":")
        r = run_one(data, corpus, work / "data", precision, gc == "on", int(micro[0]) if micro else 8, args)
        rows.append(r)
    base = {r["precision"]: r for r in rows if not r["gc"] and r["micro"] == 8}
    body_rows = []
    for r in rows:
        ref = base.get(r["precision"])
        body_rows.append([r["precision"], "on" if r["gc"] else "off", f"{r['micro']} x {8 // r['micro']}",
                          round(r["peak_mb"]), r["tokens_per_s"],
                          f"{r['tokens_per_s'] / ref['tokens_per_s']:.2f}" if ref else "",
                          f"{r['steps']} / {r['tokens']} / {r['seconds']:.0f}",
                          f"{r['first_loss']:.5f} -> {r['final_loss']:.5f}"])
    same = len({r["examples_sha256"] for r in rows}) == 1
    inputs = f" --data {args.data} --corpus {args.corpus}" if args.data else ""
    body = "\n\n".join([
        header(f"Command: `.venv/bin/python benchmarks/bench_raft_memory.py --max-steps {args.max_steps} "
               f"--threads {args.threads} --configs {args.configs}{inputs}`"
               f". {rows[0]['n_train']} training examples (examples_sha256 {rows[0]['examples_sha256'][:12]}, "
               f"{'the same in every run' if same else 'DIFFERENT between runs'}); each row a fresh "
               "`ragtune train raft` process, peak = its VmHWM (model, embedder, activations; no GGUF export)."
               + (f"\n{args.note}" if args.note else "")),
        table(["precision", "checkpointing", "micro-batch x accumulation", "peak MB (VmHWM)", "tokens/s",
               "tokens/s vs 8 x 1 off", "steps / tokens / s", "loss first -> last"], body_rows),
    ])
    print(body)
    if not args.no_write:
        write_section(TITLE, body)


if __name__ == "__main__":
    main()
