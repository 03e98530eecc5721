"""Training data: read the formats people already have, and reject bad data before training starts.

Accepted inputs (every error names the file and line, so a problem shows in the first second
instead of an hour into a run):

- question answering, JSONL, one object a line, any of
  ``{"question": ..., "answer": ...}`` (``answers: [...]`` takes the first; optional ``context``,
  ``doc_id``, ``chunk_id`` tie the question to its source passage),
  ``{"prompt": ..., "completion": ...}``,
  ``{"messages": [{"role": "user", "content": ...}, {"role": "assistant", ...}]}``;
- classification, JSONL or CSV with ``text`` and ``label`` (field names configurable);
- plain documents: anything ``ragtune ingest`` reads.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from ragtune.config import IngestSettings
from ragtune.errors import DataError, IngestError
from ragtune.ingest import iter_files, load_file

T = TypeVar("T")
ROLES = ("system", "user", "assistant")


@dataclass
class QAItem:
    """One supervised example as read from a file, before any prompt template is applied."""

    where: str  # "path:line", for error messages
    kind: Literal["qa", "prompt", "chat"]
    question: str = ""  # qa: the question; prompt: the prompt
    answer: str = ""  # qa: the answer; prompt: the completion
    messages: list[dict[str, str]] | None = None  # chat only
    context: str | None = None  # the passage that answers it, when known
    doc_id: str | None = None
    chunk_id: str | None = None


@dataclass
class LabeledText:
    where: str
    text: str
    label: str


@dataclass
class Example:
    """A tokenised training example: the loss is taken where ``labels`` is not -100."""

    input_ids: list[int]
    labels: list[int]
    where: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.input_ids)


def _exists(path: str | Path) -> Path:
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"{p}: no such file; check the path")
    return p


def jsonl_rows(path: str | Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``("path:line", object)`` for each non-blank line; a bad line is an error naming it."""
    p = _exists(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start}); save it as UTF-8") from e
    n = 0
    # "\n" only: str.splitlines() also breaks at U+2028, U+2029, U+0085 and \x1c-\x1e, which
    # json.dumps(..., ensure_ascii=False) leaves unescaped inside strings.
    for lineno, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        where = f"{p}:{lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(
                f"{where}: not valid JSON ({e.msg}, column {e.colno}); fix or remove the line"
            ) from e
        if not isinstance(obj, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        n += 1
        yield where, obj
    if n == 0:
        raise DataError(f"{p}: the file is empty; it needs one JSON object per line")


def _text_field(obj: dict[str, Any], key: str, where: str) -> str:
    val = obj.get(key)
    if isinstance(val, list) and key == "answers":
        val = next((a.get("text") if isinstance(a, dict) else a for a in val), None)
    if not isinstance(val, str | int | float) or isinstance(val, bool) or not str(val).strip():
        raise DataError(f"{where}: field {key!r} is missing or empty; every line needs it")
    return str(val).strip()


def _check_messages(msgs: Any, where: str) -> list[dict[str, str]]:
    if not isinstance(msgs, list) or not msgs:
        raise DataError(f"{where}: 'messages' must be a non-empty list of {{role, content}} objects")
    out = []
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise DataError(f"{where}: messages[{i}] needs a role ({', '.join(ROLES)}) and a string content")
        out.append({"role": m["role"], "content": m["content"]})
    if not any(m["role"] == "assistant" and m["content"].strip() for m in out):
        raise DataError(f"{where}: no assistant message with content; there is nothing to learn from")
    return out


def parse_qa(obj: dict[str, Any], where: str) -> QAItem:
    """One JSON object in any accepted QA shape -> ``QAItem`` (see the module docstring)."""
    ref = {k: str(obj[k]) for k in ("context", "doc_id", "chunk_id") if obj.get(k) not in (None, "")}
    if "messages" in obj:
        return QAItem(where, "chat", messages=_check_messages(obj["messages"], where), **ref)
    if "question" in obj:
        answer = _text_field(obj, "answers" if "answers" in obj and "answer" not in obj else "answer", where)
        return QAItem(where, "qa", _text_field(obj, "question", where), answer, **ref)
    if "prompt" in obj:
        return QAItem(
            where, "prompt", _text_field(obj, "prompt", where), _text_field(obj, "completion", where), **ref
        )
    raise DataError(
        f"{where}: unknown row shape (keys {sorted(obj)[:6]}); "
        "use question/answer, prompt/completion or messages"
    )


def load_qa(paths: str | Path | Sequence[str | Path]) -> list[QAItem]:
    """Read one or more QA JSONL files; the first bad line stops everything with its location."""
    items: list[QAItem] = []
    for path in [paths] if isinstance(paths, str | Path) else paths:
        items += [parse_qa(obj, where) for where, obj in jsonl_rows(path)]
    return items


def load_labeled(
    paths: str | Path | Sequence[str | Path], text_field: str = "text", label_field: str = "label"
) -> list[LabeledText]:
    """Read classification data from JSONL or CSV; at least two classes are required."""
    items: list[LabeledText] = []
    for path in [paths] if isinstance(paths, str | Path) else paths:
        p = _exists(path)
        rows = _csv_rows(p) if p.suffix.lower() == ".csv" else jsonl_rows(p)
        for where, row in rows:
            items.append(
                LabeledText(where, _text_field(row, text_field, where), _text_field(row, label_field, where))
            )
    counts = Counter(i.label for i in items)
    if len(counts) < 2:
        only = next(iter(counts), "")
        raise DataError(
            f"{items[0].where.rsplit(':', 1)[0]}: every row has the label {only!r}; "
            "a classifier needs at least two classes"
        )
    return items


def _csv_rows(p: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start}); save it as UTF-8") from e
    reader = csv.DictReader(io.StringIO(text))
    n = 0
    for row in reader:
        n += 1
        yield f"{p}:{reader.line_num}", row
    if n == 0:
        raise DataError(f"{p}: the file has no rows; it needs a header line and one row per example")


def load_documents(paths: Sequence[str | Path], settings: Any = None) -> list[Any]:
    """Plain documents for continued pre-training, read by the same loaders as ``ragtune ingest``."""
    ingest = settings.ingest if settings is not None else IngestSettings()
    docs = []
    try:
        for f in iter_files(list(paths), ingest.extensions):
            docs += [d for d in load_file(f, ingest) if d.text.strip()]
    except IngestError as e:
        raise DataError(str(e)) from e
    if not docs:
        raise DataError(
            f"no text found in {', '.join(map(str, paths))}; point at files ragtune ingest can read"
        )
    return docs


def split_train_val(items: Sequence[T], val_fraction: float = 0.1, seed: int = 0) -> tuple[list[T], list[T]]:
    """A seeded shuffle-and-cut; the same seed gives the same split on every machine.

    Tiny sets (under 10 items) keep everything for training: one validation example says nothing.
    """
    if not 0 <= val_fraction < 1:
        raise DataError(f"val_fraction must be in [0, 1), got {val_fraction}")
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    n_val = round(len(items) * val_fraction) if len(items) >= 10 else 0
    if val_fraction > 0 and len(items) >= 10:
        n_val = max(1, n_val)
    val = sorted(order[:n_val])
    train = sorted(order[n_val:])
    return [items[i] for i in train], [items[i] for i in val]


def check_lengths(
    examples: Iterable[Example], max_len: int, context_len: int | None = None, skip_long: bool = False
) -> list[Example]:
    """Fail on the first example too long to train on (or drop them all when ``skip_long``).

    Silent truncation would cut off exactly the answer tokens the loss is on.
    """
    kept = []
    for ex in examples:
        n = len(ex)
        if context_len and n > context_len:
            raise DataError(
                f"{ex.where}: {n} tokens is longer than the model's context ({context_len}); shorten it"
            )
        if n > max_len:
            if skip_long:
                continue
            raise DataError(
                f"{ex.where}: {n} tokens is longer than max_seq_len {max_len}; "
                "raise --max-seq-len, shorten it, or pass --skip-long"
            )
        if not any(label != -100 for label in ex.labels):
            raise DataError(f"{ex.where}: no tokens to learn from (the answer is empty after tokenising)")
        kept.append(ex)
    if not kept:
        raise DataError(f"every example is longer than max_seq_len {max_len}; raise --max-seq-len")
    return kept


def sha256_files(paths: Iterable[str | Path]) -> str:
    """One SHA-256 over the given files' bytes in sorted path order: the training data's identity."""
    h = hashlib.sha256()
    for p in sorted(Path(x).expanduser().resolve() for x in paths):
        files = [p] if p.is_file() else sorted(q for q in p.rglob("*") if q.is_file())
        for f in files:
            h.update(f.name.encode())
            with open(f, "rb") as fh:
                for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                    h.update(block)
    return h.hexdigest()


def sha256_texts(texts: Iterable[str]) -> str:
    """Identity of data that has no file of its own (chunks of a knowledge base, generated sets)."""
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> Path:
    """Write rows atomically (temp file + rename), so an interrupted run never leaves half a file."""
    import os

    p = Path(path).expanduser()
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    os.replace(tmp, p)
    return p
