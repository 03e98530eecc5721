"""The loader table: built-ins are registered in it, and a third-party loader joins it the same way."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragtune.config import IngestSettings
from ragtune.errors import ConfigError, IngestError
from ragtune.ingest.loaders import (
    LOADERS,
    decode,
    load_file,
    normalize_text,
    register_loader,
    whole_file,
)
from ragtune.ingest.loaders.csv_rows import load_csv
from ragtune.ingest.loaders.text import load_txt
from ragtune.kb import KnowledgeBase
from ragtune.types import Document


def load_rst(path: Path, data: bytes, settings: IngestSettings) -> list[Document]:
    """A third-party loader: reStructuredText, titled by its first line, the title underline dropped."""
    lines = normalize_text(decode(path, data)).split("\n")
    body = [ln for ln in lines if not (ln and set(ln) <= set("=-~^"))]
    return whole_file(path, "\n".join(body), lines[0], "rst")


@pytest.fixture
def rst_registered():
    before = dict(LOADERS)
    register_loader("RST", load_rst)
    yield
    LOADERS.clear()
    LOADERS.update(before)


def test_the_built_in_formats_are_in_the_table_in_order():
    assert list(LOADERS) == [".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".json", ".jsonl", ".csv"]
    assert LOADERS[".txt"] is load_txt and LOADERS[".csv"] is load_csv


def test_a_registered_third_party_loader_is_used_by_a_folder_ingest(settings, tmp_path, rst_registered):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "zephyr.rst").write_text(
        "Moon base Zephyr-9\n==================\n\nThe moon base Zephyr-9 was founded by Captain Ilse Marrow "
        "in 2091.\n", encoding="utf-8")
    (folder / "plain.txt").write_text("The harbour of Velmora freezes every winter.\n", encoding="utf-8")
    settings.ingest.extensions.append(".rst")
    kb = KnowledgeBase.create(settings, "rst")
    rep = kb.ingest([folder])
    assert not rep.failed
    assert sorted(Path(s).name for s in rep.added) == ["plain.txt", "zephyr.rst"]
    hit = kb.search("Who founded the moon base Zephyr-9?", k=1)[0]
    assert hit.chunk.source == str((folder / "zephyr.rst").resolve())
    assert "Ilse Marrow" in hit.chunk.text and "=====" not in hit.chunk.text


def test_without_a_registered_loader_the_extension_is_refused_in_one_line(tmp_path):
    f = tmp_path / "notes.rst"
    f.write_text("Title\n=====\n\nText.\n", encoding="utf-8")
    with pytest.raises(IngestError, match=r"unsupported file type '\.rst'; use one of \.txt, \.md"):
        load_file(f, IngestSettings())


def test_a_taken_extension_is_refused_unless_replace(rst_registered):
    with pytest.raises(ConfigError, match=r"\.txt already has the loader ragtune\.ingest\.loaders\.text\.load_txt"):
        register_loader(".txt", load_rst)
    assert LOADERS[".txt"] is load_txt
    register_loader(".txt", load_rst, replace=True)
    assert LOADERS[".txt"] is load_rst


@pytest.mark.parametrize("bad, message", [
    ([], "no extension given"),
    (".", "is not a file extension"),
    ("a/b", "is not a file extension"),
])
def test_bad_extensions_are_refused(bad, message):
    with pytest.raises(ConfigError, match=message):
        register_loader(bad, load_rst)
    assert ".rst" not in LOADERS


def test_a_loader_that_is_not_callable_is_refused():
    with pytest.raises(ConfigError, match="is not callable"):
        register_loader(".rst", "load_rst")  # type: ignore[arg-type]
    assert ".rst" not in LOADERS
