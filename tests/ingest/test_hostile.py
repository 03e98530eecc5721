"""Hostile input: deep nesting, huge CSV values, symlinks out of the folder and in loops, Ctrl-C.

Each bad file is one "skipped" line in the report and the rest of the folder goes in; a
crash (or Ctrl-C) leaves the knowledge base at a whole version and says which.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragtune.cli.main import app
from ragtune.config import IngestSettings, load_settings
from ragtune.errors import IngestError
from ragtune.ingest import iter_files, load_file
from ragtune.ingest.loaders import SkippedFile, json_depth
from ragtune.kb import KnowledgeBase
from ragtune.store.lance import LanceStore

DEEP_ARRAY = "[" * 10000 + "]" * 10000
DEEP_OBJECT = '{"a":' * 10000 + "1" + "}" * 10000


def names(failed: list[tuple[str, str]]) -> dict[str, str]:
    return {Path(s).name: e for s, e in failed}


# -- deep JSON, big CSV values, deep HTML ------------------------------------------------------


@pytest.mark.parametrize("name, text", [
    ("deep_array.json", DEEP_ARRAY),
    ("deep_object.json", DEEP_OBJECT),
    ("deep.jsonl", '{"text": "fine"}\n' + DEEP_OBJECT + "\n"),
])
def test_deep_json_is_one_skipped_line_and_the_folder_goes_in(settings, corpus_dir, name, text):
    (corpus_dir / name).write_text(text)
    rep = KnowledgeBase.create(settings, "deep").ingest([corpus_dir])
    assert len(rep.added) == 12 and rep.version == 1
    failed = names(rep.failed)
    assert list(failed) == [name]
    assert "10000 levels deep" in failed[name] and "ingest.json_max_depth = 200" in failed[name]
    assert "\n" not in failed[name] and "Recursion" not in failed[name]


def test_json_depth_is_counted_outside_strings_and_the_limit_is_a_setting(tmp_path):
    assert json_depth('{"a": [1, {"b": "[[[[{{{{ \\" ]]"}]}') == 3
    f = tmp_path / "four.json"
    f.write_text('{"text": "deep enough", "x": [[["y"]]]}')
    with pytest.raises(IngestError, match=r"4 levels deep, more than ingest.json_max_depth = 3; flatten"):
        load_file(f, IngestSettings(json_max_depth=3))
    assert load_file(f, IngestSettings(json_max_depth=4))[0].text == "deep enough"


def test_csv_value_over_the_limit_is_one_line_naming_the_setting(tmp_path):
    f = tmp_path / "big.csv"
    f.write_text('id,text\n1,"' + "x" * 10_000_000 + '"\n2,short\n')
    with pytest.raises(IngestError) as e:
        load_file(f, IngestSettings())
    msg = str(e.value)
    assert "line 2" in msg and "ingest.csv_max_field_mb = 1 MB" in msg and "\n" not in msg
    docs = load_file(f, IngestSettings(csv_max_field_mb=20))
    assert [len(d.text) for d in docs] == [10_000_000, 5]
    assert csv.field_size_limit() == 131072  # the process-wide limit is put back


def test_html_depth_counts_open_elements_as_a_browser_does(tmp_path):
    f = tmp_path / "page.html"
    # 10,000 unclosed paragraphs, list items and cells, void <br>, stray end tags: shallow, all loaded
    f.write_text("<html><body>" + "<p>para<br>" * 10_000 + "<ul>" + "<li><p>item" * 5000 + "</ul></i></b>"
                 + "<table>" + "<tr><td>a<td>b" * 3000 + "</table>" + "<div>" * 998 + "the bottom")
    assert load_file(f, IngestSettings())[0].text.endswith("the bottom")
    f.write_text("<html><body>" + "<div>" * 999 + "x")  # 1001 levels with <html> and <body>
    with pytest.raises(IngestError, match=r"more than 1000 levels deep \(ingest.html_max_depth = 1000\)"):
        load_file(f, IngestSettings())
    assert load_file(f, IngestSettings(html_max_depth=1001))[0].text == "x"


def pdf_of(objects: list[bytes]) -> bytes:
    """A PDF of these objects (1 0 obj is the catalog) with a correct cross-reference table."""
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for k, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % k + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def million_page_pdf(declared: int) -> bytes:
    """A million pages in 12 KB: 1000 references to a node of 1000 references to one page."""
    def kids(ref: str) -> bytes:
        return ("[" + " ".join([ref] * 1000) + "]").encode()

    return pdf_of([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids " + kids("3 0 R") + b" /Count %d >>" % declared,
        b"<< /Type /Pages /Parent 2 0 R /Kids " + kids("4 0 R") + b" /Count 1000 >>",
        b"<< /Type /Page /Parent 3 0 R /MediaBox [0 0 612 792] /Contents 5 0 R "
        b"/Resources << /Font << /F1 6 0 R >> >> >>",
        b"<< /Length 36 >>\nstream\nBT /F1 12 Tf 72 720 Td (one) Tj ET\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ])


HUGE_FIELD_CSV = 'id,text\n1,"' + "x" * 10_000_000 + '"\n'


@pytest.mark.parametrize("name, content, says", [
    ("million.pdf", million_page_pdf(1_000_000), "the PDF declares 1000000 pages, over the limit "
                                                  "ingest.pdf_max_pages = 5000"),
    ("lying.pdf", million_page_pdf(1), "the PDF has more than 5000 pages, over the limit ingest.pdf_max_pages"),
    ("huge_field.csv", HUGE_FIELD_CSV, "a value longer than ingest.csv_max_field_mb = 1 MB"),
    ("deep.html", "<div>" * 100_000 + "<p>the bottom</p>", "more than 1000 levels deep (ingest.html_max_depth"),
    ("big.json", '[{"text": "' + "y" * (21 * 1024 * 1024) + '"}]', "21.0 MB, larger than ingest.json_max_mb = 20"),
])
def test_each_parser_limit_is_one_skipped_line_and_the_folder_goes_in(settings, corpus_dir, name, content, says):
    target = corpus_dir / name
    target.write_bytes(content) if isinstance(content, bytes) else target.write_text(content)
    rep = KnowledgeBase.create(settings, "limits").ingest([corpus_dir], show_progress=False)
    assert len(rep.added) == 12 and rep.version == 1
    failed = names(rep.failed)
    assert list(failed) == [name]
    assert says in failed[name] and "\n" not in failed[name], failed[name]


def test_limits_are_settings(tmp_path):
    from tests.ingest.test_loaders import make_pdf

    pdf = tmp_path / "three.pdf"
    pdf.write_bytes(make_pdf(["one", "two", "three"]))
    assert len(load_file(pdf, IngestSettings(pdf_max_pages=3))) == 3
    with pytest.raises(IngestError, match="declares 3 pages, over the limit ingest.pdf_max_pages = 2"):
        load_file(pdf, IngestSettings(pdf_max_pages=2))
    js = tmp_path / "rows.jsonl"
    js.write_text('{"text": "short"}\n{"text": "' + "z" * 600_000 + '"}\n')
    assert len(load_file(js, IngestSettings())) == 2
    with pytest.raises(IngestError, match=r"rows.jsonl: line 2 is 0.6 MB, larger than ingest.json_max_mb = 0.5"):
        load_file(js, IngestSettings(json_max_mb=0.5))


# -- symlinks ------------------------------------------------------------------------------


def walk(root: Path, follow_outside: bool = False) -> tuple[list[str], list[SkippedFile]]:
    skipped: list[SkippedFile] = []
    found = list(iter_files([root], [".txt"], follow_outside, skipped.append))
    return [p.relative_to(root).as_posix() for p in found], skipped


@pytest.fixture
def linked(tmp_path: Path) -> tuple[Path, Path]:
    """A folder with a link inside it and a link to a file outside it."""
    docs, outside = tmp_path / "docs", tmp_path / "outside"
    docs.mkdir()
    outside.mkdir()
    (docs / "real.txt").write_text("The lighthouse at Nantucket was lit in 1746.")
    (outside / "secret.txt").write_text("The vault combination is 31-12-77.")
    (docs / "inner_link.txt").symlink_to(docs / "real.txt")
    (docs / "secret_link.txt").symlink_to(outside / "secret.txt")
    return docs, outside


def test_link_outside_the_folder_is_reported_and_skipped(linked):
    docs, outside = linked
    found, skipped = walk(docs)
    assert found == ["inner_link.txt"]  # same file as real.txt: yielded once
    [s] = skipped
    assert s.path == docs / "secret_link.txt" and s.target == (outside / "secret.txt").resolve()
    assert "secret_link.txt" in s.error and "ingest.follow_symlinks_outside = true" in s.error
    assert walk(docs, follow_outside=True) == (["inner_link.txt", "secret_link.txt"], [])


def test_ingest_skips_outside_link_and_sync_removes_what_it_once_ingested(tmp_path, linked):
    docs, outside = linked
    data = str(tmp_path / "data")
    follow = load_settings(env={}, data_dir=data, overrides=["ingest.follow_symlinks_outside=true"])
    kb = KnowledgeBase.create(follow, "links")
    secret = str((outside / "secret.txt").resolve())
    assert secret in kb.ingest([docs]).added  # allowed: the target is ingested as its own path

    kb = KnowledgeBase.open(load_settings(env={}, data_dir=data), "links")
    rep = kb.ingest([docs])  # the default: not followed, reported, but not removed without --sync
    assert names(rep.failed).keys() == {"secret_link.txt"} and secret in kb.store.sources()
    rep = kb.ingest([docs], sync=True)
    assert rep.removed == [secret] and secret not in kb.store.sources()
    assert list(kb.store.sources()) == [str((docs / "real.txt").resolve())]


def test_symlink_loops_are_reported_and_do_not_hang(tmp_path):
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "ok.txt").write_text("fine")
    os.symlink("b.txt", root / "a.txt")
    os.symlink("a.txt", root / "b.txt")
    os.symlink("..", root / "sub" / "up")  # a folder link to its parent
    os.symlink(root, root / "self")  # and to the folder itself
    found, skipped = walk(root)
    assert found == ["sub/ok.txt"]
    errors = {s.path.relative_to(root).as_posix(): s.error for s in skipped}
    assert set(errors) == {"a.txt", "b.txt", "self", "sub/up"}
    assert all("symbolic link loop" in e and "\n" not in e for e in errors.values())


def test_a_named_link_loop_is_a_clear_error(tmp_path):
    os.symlink("b.txt", tmp_path / "a.txt")
    os.symlink("a.txt", tmp_path / "b.txt")
    with pytest.raises(IngestError, match="a.txt: a symbolic link that leads to no file"):
        list(iter_files([tmp_path / "a.txt"], [".txt"]))


# -- the command line: one line per bad file, and what Ctrl-C left -----------------------------


runner = CliRunner()


def ingest_cli(data: Path, folder: Path):
    return runner.invoke(app, ["--data-dir", str(data), "ingest", str(folder), "--kb", "k", "--create"])


def test_cli_reports_deep_json_and_outside_link_in_one_line_each(tmp_path, corpus_dir):
    (corpus_dir / "deep.json").write_text(DEEP_ARRAY)
    (tmp_path / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (corpus_dir / "passwd_link.txt").symlink_to(tmp_path / "passwd")
    res = ingest_cli(tmp_path / "data", corpus_dir)
    assert res.exit_code == 0, res.output
    assert "12 added" in res.stdout and "2 failed" in res.stdout
    skipped = [line for line in res.stderr.splitlines() if line.startswith("skipped")]
    assert len(skipped) == 2
    assert any("deep.json" in line and "ingest.json_max_depth" in line for line in skipped)
    assert any("passwd_link.txt" in line and "ingest.follow_symlinks_outside" in line for line in skipped)


def test_ctrl_c_right_after_the_commit_says_the_new_version_is_current(tmp_path, corpus_dir, monkeypatch):
    commit = LanceStore.commit

    def commit_then_ctrl_c(self, *a, **k):
        commit(self, *a, **k)
        raise KeyboardInterrupt

    monkeypatch.setattr(LanceStore, "commit", commit_then_ctrl_c)
    res = ingest_cli(tmp_path / "data", corpus_dir)
    assert res.exit_code == 130
    assert "interrupted after the commit: version 1 of k is complete and current" in res.stderr
    monkeypatch.undo()
    kb = KnowledgeBase.open(load_settings(env={}, data_dir=str(tmp_path / "data")), "k")
    assert kb.store.version() == 1 and len(kb.store.sources()) == 12


def test_ctrl_c_before_the_commit_says_nothing_changed(tmp_path, corpus_dir, monkeypatch):
    def ctrl_c(self, *a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(LanceStore, "add", ctrl_c)
    res = ingest_cli(tmp_path / "data", corpus_dir)
    assert res.exit_code == 130
    assert "interrupted: nothing was changed, version 0 of k is still current" in res.stderr
