"""Shared fixtures: a settings object on a temporary data folder and small real corpora."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragtune.config import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
KNOWLEDGE = ROOT / "examples" / "knowledge" / "data"


def squad_paragraphs(n: int | None = None, title: str | None = None) -> list[dict]:
    rows = [json.loads(line) for line in (KNOWLEDGE / "corpus.jsonl").open()]
    if title:
        rows = [r for r in rows if r["title"] == title]
    return rows[:n] if n else rows


def squad_questions(doc_ids: set[str]) -> list[dict]:
    return [q for q in map(json.loads, (KNOWLEDGE / "qa.jsonl").open()) if q["doc_id"] in doc_ids]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(env={}, data_dir=str(tmp_path / "data"))


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    """Twelve real SQuAD paragraphs as .txt files."""
    d = tmp_path / "docs"
    d.mkdir()
    for r in squad_paragraphs(12):
        (d / f"{r['id'].replace(':', '_')}.txt").write_text(f"{r['title']}\n\n{r['text']}\n", encoding="utf-8")
    return d


def pytest_sessionfinish(session, exitstatus):
    """Free the loaded llama.cpp models while Python is still whole: freed at interpreter exit instead,
    llama-cpp-python's finalisers find their modules gone and print tracebacks after the summary."""
    import gc

    from ragtune.generate.base import clear_engines

    clear_engines()
    gc.collect()
