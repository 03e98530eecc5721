"""Train a reader adapter for the bundled generator, reproducibly, on SQuAD articles no test touches.

A reader adapter (generate/reader_adapter.py) is a small LoRA that teaches the generator to pick the
answer out of retrieved passages. This script builds its training data and trains it with the
``raft`` recipe, exactly as a user would for their own model::

    python benchmarks/train_reader.py --reader focus --focus-sentences 3 --questions 600

The data: SQuAD v1.1 dev questions from the *tune* half of ``bench_grounding.py``'s article split,
leaving out that half's first ``--skip-articles`` articles (the ones ``bench_grounding.py --split
tune`` answers, so the tune measurement stays held out) and every article an example, the tour or
a test uses. Each question is shown with its paragraph and the embedder-nearest paragraphs of the
same articles as distractors. The bench half is never read here.

Out: the trained model under ``--work``, its GGUF adapter, and ``reader.json`` beside the GGUF
(the reader it reads with), so ``[reader] adapter = <path>`` or ``bench_grounding.py
--reader-adapter <path>`` uses it as trained.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench_common import DEFAULT_WORK, squad_paragraphs, squad_questions
from bench_grounding import split_articles


def build_data(work: Path, n_questions: int, skip_articles: int, seed: int) -> tuple[Path, Path, list[str]]:
    """The QA file (question, answer, context) and the corpus folder of the training articles."""
    articles = split_articles(seed)["tune"][skip_articles:]
    chosen = set(articles)
    paras = [p for p in squad_paragraphs() if p["id"].split(":")[1] in chosen]
    corpus = work / "corpus"
    shutil.rmtree(corpus, ignore_errors=True)
    corpus.mkdir(parents=True)
    text_of = {}
    for p in paras:
        (corpus / f"{p['id'].replace(':', '_')}.txt").write_text(p["text"], encoding="utf-8")
        text_of[p["id"]] = p["text"]
    rows = squad_questions(n_questions, seed=seed, doc_ids=set(text_of))
    qa = work / "qa.jsonl"
    with qa.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps({"question": r["question"], "answer": r["answers"][0],
                                "context": text_of[r["doc_id"]]}) + "\n")
    return qa, corpus, articles


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reader", choices=("plain", "focus"), default="focus")
    ap.add_argument("--focus-sentences", type=int, default=3)
    ap.add_argument("--questions", type=int, default=600)
    ap.add_argument("--skip-articles", type=int, default=8, help="tune articles left for bench_grounding --split tune")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--lora-r", type=int, default=8)
    ap.add_argument("--lora-dropout", type=float, default=0.05,
                    help="0.05: the shipped adapter's (ragtune's default then; 0 since 2026-12-07)")
    ap.add_argument("--precision", choices=("bf16", "fp32"), default="bf16",
                    help="bf16: the shipped adapter's; fp32 where the CPU lacks BF16 (AMD Zen 3), where bf16 is slow")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--name", default=None, help="model name (default: reader-<reader><sentences>)")
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK / "reader")
    args = ap.parse_args()
    name = args.name or f"reader-{args.reader}{args.focus_sentences if args.reader == 'focus' else ''}"
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    qa, corpus, articles = build_data(work, args.questions, args.skip_articles, args.seed)
    print(f"{sum(1 for _ in qa.open())} questions of {len(articles)} tune articles -> {qa}")
    cli = [str(Path(sys.executable).with_name("ragtune")), "--data-dir", str(work / "data")]
    reader = ["--reader", args.reader] + (["--focus-sentences", str(args.focus_sentences)]
                                          if args.reader == "focus" else [])
    t = time.perf_counter()
    subprocess.run(cli + ["train", "raft", "--data", str(qa), "--corpus", str(corpus), "--name", name,
                          "--distractors", "2", "--precision", args.precision, "--max-seq-len", "768", "--skip-long",
                          "--val-fraction", "0.05", "--lora-r", str(args.lora_r), "--lora-alpha",
                          str(2 * args.lora_r), "--lora-dropout", str(args.lora_dropout),
                          "--epochs", str(args.epochs), "--lr", str(args.lr),
                          "--batch-size", "4", "--grad-accum", "2", "--overwrite", *reader], check=True)
    subprocess.run(cli + ["models", "export", name, "--gguf"], check=True)
    gguf = next((work / "data").rglob(f"{name}*/exports/*.gguf"), None) or next((work / "data").rglob("*.gguf"))
    target = work / f"{name}.gguf"
    shutil.copyfile(gguf, target)
    shown = {"method": args.reader, **({"focus_sentences": args.focus_sentences} if args.reader == "focus" else {})}
    target.with_suffix(".json").write_text(json.dumps({
        "name": name, "reader": shown,
        "trained_on": f"{args.questions} questions of {len(articles)} SQuAD v1.1 dev articles (tune split, "
                      f"first {args.skip_articles} left out)",
        "recipe": f"ragtune train raft --distractors 2 --precision {args.precision} --lora-r {args.lora_r} "
                  f"--lora-dropout {args.lora_dropout} --epochs "
                  f"{args.epochs} --lr {args.lr} " + " ".join(reader),
        "seconds": round(time.perf_counter() - t)}, indent=1) + "\n", encoding="utf-8")
    print(f"reader adapter: {target} (+ {target.with_suffix('.json').name})")


if __name__ == "__main__":
    main()
