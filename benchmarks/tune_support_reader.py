"""Should the support example's rag answer through the reader adapter? Measured off its test split.

The shipped reader adapter (``[reader] adapter = auto``) was trained on SQuAD, whose answers are a
few words; the support example's gold answers are whole FAQ answers. This script answers Debian
FAQ questions that the support example never tests on (its 16 test questions, drawn exactly as
``ragtune compare --example support`` draws them, are removed from the FAQ before anything else),
with rag through the adapter and ``rag/base`` (the bare model), by running ``ragtune compare`` on
an experiment file written to the work folder: the support example's settings, ``modes = ["base",
"rag"]``, ``variants = ["rag/base"]``, ``--questions`` test questions from the remaining entries
(every remaining entry is in the knowledge base, as in the example). The report's paired
differences decide; the support example's setting follows them, never its own test split.

    .venv/bin/python benchmarks/tune_support_reader.py --questions 40
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from bench_common import DEFAULT_WORK, ROOT

SUPPORT = ROOT / "examples" / "support" / "experiment.toml"


def main() -> None:
    from ragtune.evaluate.datasets import load_corpus_and_questions, read_jsonl, split_qa
    from ragtune.evaluate.experiment import load_experiment

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--questions", type=int, default=40)
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK / "support-reader")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    exp = load_experiment(SUPPORT)
    faq = exp.path(exp.data.faq)
    # the entries the support example holds out, drawn by its own split
    docs, qs = load_corpus_and_questions(None, None, faq)
    split = split_qa(docs, qs, n_docs=None, n_test=exp.sizes.test_questions, n_train=exp.sizes.train_questions,
                     seed=exp.seed, faq_mode=True)
    held_out = {q.doc_id for q in split.test}
    rows = read_jsonl(faq)
    kept = [{k: v for k, v in r.items() if k != "_where"} for r in rows if r["id"] not in held_out]
    (args.work / "faq.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
    # the example's settings, except its reader adapter choice: that choice is what is measured here
    # (rag with the default adapter against rag/base without it)
    settings = "\n".join(f"{section}.{k} = {json.dumps(v)}" for section, table in exp.settings.items()
                         for k, v in table.items() if (section, k) != ("reader", "adapter"))
    (args.work / "experiment.toml").write_text(f'''name = "support-reader-tune"
task = "qa"
description = "Debian FAQ entries outside the support example's test split: rag with and without the reader adapter"
seed = 1
modes = ["base", "rag"]
variants = ["rag/base"]
primary_metric = "semantic_similarity"

[data]
faq = "faq.jsonl"

[sizes]
test_questions = {args.questions}

[settings]
{settings}
''', encoding="utf-8")
    print(f"{len(rows) - len(kept)} support test entries removed; {len(kept)} entries in the knowledge base")
    sys.exit(subprocess.call([str(ROOT / ".venv" / "bin" / "ragtune"), "compare", "-c", "experiment.toml",
                              "--fresh"], cwd=args.work))


if __name__ == "__main__":
    main()
