"""Property tests of every loader: random bytes and random documents of its format either load
or raise ``IngestError`` with one line ``PATH: ...``; never another exception.

And in a real knowledge base: a folder with one fuzzed file next to good ones keeps the good
ones, and never loses a document ingested earlier. Runs are derandomized (the same examples
on every run) and bounded, so they fit in ``make test``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
from pathlib import Path

import pypdf
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ragtune.config import IngestSettings, load_settings
from ragtune.errors import IngestError
from ragtune.ingest import load_file
from ragtune.ingest.loaders import LOADERS
from ragtune.kb import KnowledgeBase
from ragtune.types import Document
from tests.ingest.test_loaders import make_pdf


def fuzz(n: int):
    return settings(max_examples=n, database=None, derandomize=True, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


INGEST = IngestSettings()
VOCAB = ["The", "lighthouse", "was", "lit", "in", "1746.", "Dr.", "e.g.", "U.S.", "A", "émigré", "日本語",
         "🙂", "a1b2c3d4" * 8, "Tolkien!", "Why?", "\u2028", "\t", "..."]
ASCII_WORDS = [w for w in VOCAB if w.isascii() and w.strip()]  # what a Helvetica PDF page can hold
WORDS = st.lists(st.sampled_from(VOCAB), max_size=30).map(" ".join)
TEXT = st.text(max_size=200)  # any code point hypothesis draws (no lone surrogates: UTF-8 cannot hold them)
PROSE = WORDS | TEXT


@st.composite
def damaged(draw, strategy: st.SearchStrategy[str]) -> str:
    """A document as drawn, or cut short, or with random text put in or taken out somewhere."""
    s = draw(strategy)
    i = draw(st.integers(0, len(s)))
    how = draw(st.sampled_from(["whole", "cut", "insert", "delete"]))
    if how == "cut":
        return s[:i]
    if how == "insert":
        return s[:i] + draw(st.text(max_size=5)) + s[i:]
    if how == "delete":
        return s[:i] + s[i + draw(st.integers(1, 10)):]
    return s


# -- documents of each format ----------------------------------------------------------------

SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
JSON_VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=15,
)
ROWS = st.fixed_dictionaries(
    {"text": PROSE | JSON_VALUES},
    optional={"id": st.integers(0, 3) | st.text(max_size=3) | JSON_VALUES, "title": PROSE | JSON_VALUES,
              "lang": st.text(max_size=5) | SCALARS},
)


def dumps(value: object, ascii_only: bool, indent: int | None) -> str:
    return json.dumps(value, ensure_ascii=ascii_only, indent=indent)


JSON_TEXT = st.builds(dumps, JSON_VALUES | ROWS | st.lists(ROWS, max_size=5), st.booleans(),
                      st.sampled_from([None, 2]))
JSONL_TEXT = st.lists(st.builds(dumps, ROWS | JSON_VALUES, st.booleans(), st.none()) | st.just(""),
                      min_size=1, max_size=6).map("\n".join)


@st.composite
def csv_text(draw) -> str:
    header = draw(st.lists(st.text(max_size=8), min_size=1, max_size=4))
    if draw(st.booleans()):
        header.insert(draw(st.integers(0, len(header))), "text")
    out = io.StringIO()
    writer = csv.writer(out, delimiter=draw(st.sampled_from(",;\t|")),
                        lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(header)
    for _ in range(draw(st.integers(0, 5))):
        writer.writerow(draw(st.lists(PROSE, max_size=len(header) + 1)))
    return out.getvalue()


TAGS = ["html", "head", "body", "title", "div", "p", "span", "h1", "pre", "script", "style", "nav", "svg",
        "template", "br", "img", "ul", "li", "table", "tr", "td", "a"]
HTML_BITS = [
    "<!DOCTYPE html>", "<!-- note -->", "<![CDATA[x]]>", "<?xml version='1.0'?>", "&amp;", "&nbsp;",
    "&#xd800;", "&#0;", "&#99999999999;", "&bogus;", "<", ">", "&", "<a href='x' title=\"y\">", "</",
]
HTML_TEXT = st.lists(
    st.sampled_from(TAGS).map("<{}>".format) | st.sampled_from(TAGS).map("</{}>".format)
    | st.sampled_from(TAGS).map("<{}/>".format) | st.sampled_from(HTML_BITS) | PROSE,
    max_size=60,
).map("".join)
MARKDOWN_TEXT = st.lists(
    st.tuples(st.sampled_from(["", "# ", "## ", "- ", "1. ", "> ", "```", "~~~", "| a | b |", "#"]), PROSE)
    .map("".join), max_size=20,
).map("\n".join)


def pdf_bytes(pages: list[str], through_pypdf: bool) -> bytes:
    """A real PDF with one line of text per page, optionally rewritten (compressed) by pypdf."""
    pdf = make_pdf(pages)
    if not through_pypdf:
        return pdf
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(pdf)))
    for page in writer.pages:
        page.compress_content_streams()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@st.composite
def broken_pdf(draw) -> bytes:
    """A real PDF cut short, with a byte changed, or random bytes after a PDF header."""
    latin = st.lists(st.sampled_from(ASCII_WORDS), min_size=1, max_size=8).map(" ".join)
    pdf = pdf_bytes(draw(st.lists(latin, min_size=1, max_size=3)), draw(st.booleans()))
    how = draw(st.sampled_from(["cut", "flip", "random", "whole"]))
    i = draw(st.integers(0, len(pdf) - 1))
    if how == "cut":
        return pdf[:i]
    if how == "flip":
        return pdf[:i] + bytes([draw(st.integers(0, 255))]) + pdf[i + 1:]
    if how == "random":
        return b"%PDF-1." + draw(st.binary(max_size=2000))
    return pdf


def utf8(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[bytes]:
    return strategy.map(lambda s: s.encode("utf-8"))


FORMATS: dict[str, st.SearchStrategy[bytes]] = {
    ".json": utf8(damaged(JSON_TEXT)),
    ".jsonl": utf8(damaged(JSONL_TEXT)),
    ".csv": utf8(damaged(csv_text())),
    ".html": utf8(damaged(HTML_TEXT)),
    ".md": utf8(MARKDOWN_TEXT),
    ".txt": utf8(PROSE),
    ".pdf": broken_pdf(),
}
ANY_FILE = st.one_of(
    *(st.tuples(st.just(ext), strategy) for ext, strategy in FORMATS.items()),
    st.tuples(st.sampled_from(sorted(LOADERS)), st.binary(max_size=1000)),
)


# -- the property ------------------------------------------------------------------------------


def load_or_one_line(path: Path, data: bytes, ingest: IngestSettings = INGEST) -> list[Document] | str:
    """Load ``data`` as the file ``path``: the documents, or the IngestError's message, checked.

    Any other exception escapes and fails the test, with the example that raised it.
    """
    path.write_bytes(data)
    try:
        docs = load_file(path, ingest)
    except IngestError as e:
        msg = str(e)
        assert msg.startswith(f"{path}: ") and len(msg.splitlines()) == 1, msg
        return msg
    src = str(path.resolve())
    assert docs, "no documents and no error"
    assert len({d.doc_id for d in docs}) == len(docs)
    for d in docs:
        assert d.source == src and d.doc_id.startswith(src)
        assert d.text and d.text == d.text.strip()
        # what the store will write: UTF-8 text, title and metadata
        assert d.content_hash == hashlib.sha256(d.text.encode("utf-8")).hexdigest()
        (d.title + "".join(f"{k}{v}" for k, v in d.metadata.items())).encode("utf-8")
    return docs


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.mark.parametrize("ext", sorted(LOADERS))
@fuzz(100)
@given(data=st.binary(max_size=4096))
def test_random_bytes_load_or_fail_in_one_line(folder, ext, data):
    load_or_one_line(folder / f"bytes{ext}", data)


@pytest.mark.parametrize("ext", sorted(LOADERS))
@fuzz(60)
@given(text=TEXT)
def test_random_text_loads_or_fails_in_one_line(folder, ext, text):
    load_or_one_line(folder / f"text{ext}", text.encode("utf-8"))


@fuzz(300)
@given(data=FORMATS[".json"])
@example(data=b'{"text": "big", "n": ' + b"7" * 5000 + b"}")  # past Python's 4300-digit int limit
@example(data=rb'{"text": "a lone \ud800 surrogate"}')  # valid JSON, not encodable as UTF-8
@example(data=rb'[{"text": "ok", "title": "\udfff"}]')
@example(data=b'{"line\\nbreak": 1}')  # a field name with a line break, quoted in the error
def test_json_documents_load_or_fail_in_one_line(folder, data):
    load_or_one_line(folder / "doc.json", data)


@fuzz(300)
@given(data=FORMATS[".jsonl"])
@example(data=b'{"text": "fine"}\n{"text": "big", "n": ' + b"9" * 4400 + b"}\n")  # ValueError, once
def test_jsonl_documents_load_or_fail_in_one_line(folder, data):
    load_or_one_line(folder / "doc.jsonl", data)


@fuzz(300)
@given(data=FORMATS[".csv"])
@example(data=b'"a\nb",c\n1,2\n')  # a column name with a line break, quoted in the error
def test_csv_documents_load_or_fail_in_one_line(folder, data):
    load_or_one_line(folder / "doc.csv", data)


@fuzz(300)
@given(data=FORMATS[".html"])
@example(data=b"<p>A page</p><![DATA[x]]>")  # Python's parser raised AssertionError on these
@example(data=b"<p>A page</p><![\n0CDATA[x]]>")
def test_html_documents_load_or_fail_in_one_line(folder, data):
    load_or_one_line(folder / "doc.html", data)


@fuzz(200)
@given(data=FORMATS[".md"], ext=st.sampled_from([".md", ".markdown", ".txt"]))
def test_markdown_and_text_load_or_fail_in_one_line(folder, data, ext):
    load_or_one_line(folder / f"doc{ext}", data)


@fuzz(150)
@given(data=FORMATS[".pdf"])
def test_damaged_pdfs_load_or_fail_in_one_line(folder, data):
    load_or_one_line(folder / "doc.pdf", data)


@fuzz(30)
@given(pages=st.lists(st.lists(st.sampled_from(ASCII_WORDS), min_size=1, max_size=6).map(" ".join),
                      min_size=1, max_size=3),
       through_pypdf=st.booleans())
def test_whole_pdfs_load_every_word(folder, pages, through_pypdf):
    docs = load_or_one_line(folder / "whole.pdf", pdf_bytes(pages, through_pypdf))
    assert [d.text.split() for d in docs] == [p.split() for p in pages]


@fuzz(60)
@given(rows=st.lists(WORDS.filter(str.strip), min_size=1, max_size=6))
def test_well_formed_rows_load_one_document_each(folder, rows):
    lines = "".join(json.dumps({"text": r}) + "\n" for r in rows)
    docs = load_or_one_line(folder / "rows.jsonl", lines.encode("utf-8"))
    assert [d.text for d in docs] == [" ".join(r.split()) for r in rows]


# -- in a real knowledge base ----------------------------------------------------------------


GOOD = {
    "a.txt": "The Eddystone lighthouse was rebuilt four times between 1698 and 1882.",
    "b.md": "# Nantucket\n\nThe lighthouse at Nantucket was first lit in 1746.",
    "c.jsonl": '{"text": "Smeaton used dovetailed granite blocks.", "id": "smeaton"}\n',
}


@pytest.fixture(scope="module")
def kb(tmp_path_factory) -> tuple[KnowledgeBase, Path]:
    root = tmp_path_factory.mktemp("fuzz-kb")
    docs = root / "docs"
    docs.mkdir()
    for name, text in GOOD.items():
        (docs / name).write_text(text)
    kb = KnowledgeBase.create(load_settings(env={}, data_dir=str(root / "data")), "fuzz")
    rep = kb.ingest([docs], show_progress=False)
    assert len(rep.added) == 3 and not rep.failed
    return kb, docs


COUNTER = itertools.count()


@fuzz(15)
@given(file=ANY_FILE)
@example(file=(".json", rb'{"text": "a lone \ud800 surrogate"}'))
def test_a_bad_file_never_costs_the_good_ones_or_earlier_documents(kb, file):
    """One fuzzed file (``fuzzed.EXT``, rewritten each time) next to a new good file: the good file
    goes in, the fuzzed ones go in or get one line each, and every source ingested earlier stays,
    a fuzzed file that loaded once included (a later bad version leaves the earlier one)."""
    kb, docs = kb
    ext, data = file
    good = docs / f"good{next(COUNTER)}.txt"
    good.write_text(f"Lighthouse keeper number {good.stem} kept the lamp lit through the storm.")
    fuzzed = docs / f"fuzzed{ext}"
    fuzzed.write_bytes(data)
    before, version = kb.store.sources(), kb.version()

    rep = kb.ingest([docs], show_progress=False)

    after = kb.store.sources()
    assert str(good.resolve()) in rep.added
    assert rep.version == version + 1 and kb.version() == version + 1
    fuzzed_files = {str(p.resolve()): p for p in docs.glob("fuzzed.*")}  # earlier bad ones fail again
    failed = dict(rep.failed)
    assert set(failed) <= set(fuzzed_files)
    for src, error in failed.items():
        assert error.startswith(f"{fuzzed_files[src]}: ") and len(error.splitlines()) == 1, error
    assert str(fuzzed.resolve()) in failed.keys() | set(rep.added + rep.updated + rep.unchanged)
    assert set(before) <= set(after)
    for src in failed:
        assert after.get(src) == before.get(src)  # a bad new version leaves the earlier one as it was
