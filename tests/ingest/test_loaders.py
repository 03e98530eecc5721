"""Loaders: every format, and one clear IngestError line for each kind of bad input."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pypdf
import pytest

from ragtune.config import IngestSettings
from ragtune.errors import IngestError
from ragtune.ingest import file_hash, iter_files, load_file

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ingest"
SETTINGS = IngestSettings()


def make_pdf(pages: list[str]) -> bytes:
    """A minimal valid PDF, one line of Helvetica text per page, written byte by byte
    (pypdf cannot write text), with a correct cross-reference table."""
    n = len(pages)
    font = 3 + 2 * n
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(n))
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode()]
    for i, text in enumerate(pages):
        esc = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = f"BT /F1 12 Tf 72 720 Td ({esc}) Tj ET".encode("latin-1")
        objs.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 {font} 0 R >> >> /Contents {4 + 2 * i} 0 R >>".encode()
        )
        objs.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for k, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % k + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def encrypt(pdf: bytes, user_password: str) -> bytes:
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(pdf)))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        p.write_text(content, encoding="utf-8")
    else:
        p.write_bytes(content)
    return p


def error_of(path: Path, settings: IngestSettings = SETTINGS) -> str:
    with pytest.raises(IngestError) as info:
        load_file(path, settings)
    msg = str(info.value)
    assert "\n" not in msg, "an ingest error is one line"
    assert msg.startswith(f"{path}: ")
    return msg


# -- formats -----------------------------------------------------------------------------------


def test_txt_whole_file_document():
    path = FIXTURES / "notes.txt"
    [doc] = load_file(path, SETTINGS)
    src = str(path.resolve())
    assert doc.doc_id == src and doc.source == src
    assert doc.title == "notes"
    assert doc.text == (
        "Plain text notes. Spaces collapse here.\nA wrapped line continues.\n\n"
        "A second paragraph. Dr. Smith wrote it, e.g. on Monday."
    )
    assert doc.content_hash == hashlib.sha256(doc.text.encode()).hexdigest()
    assert doc.metadata["source_type"] == "txt"
    assert doc.metadata["mtime"].endswith("+00:00")


def test_markdown_title_is_first_h1_heading():
    [doc] = load_file(FIXTURES / "guide.md", SETTINGS)
    assert doc.title == "Ingest Guide"
    assert "Ragtune reads **Markdown** files." in doc.text
    assert doc.metadata["source_type"] == "md"


def test_markdown_without_heading_uses_file_stem(tmp_path):
    [doc] = load_file(write(tmp_path, "no-title.markdown", "## only a sub heading\n\nbody"), SETTINGS)
    assert doc.title == "no-title"


def test_markdown_title_skips_code_fences_and_closing_hashes(tmp_path):
    text = "```sh\n# not a title\n```\n\n# C# Notes ##\n\nbody"
    [doc] = load_file(write(tmp_path, "code.md", text), SETTINGS)
    assert doc.title == "C# Notes"


def test_html_visible_text_title_and_paragraphs():
    [doc] = load_file(FIXTURES / "page.html", SETTINGS)
    assert doc.title == "The Page Title"
    assert doc.metadata["source_type"] == "html"
    for hidden in ("color: red", "script text", "Menu entry", "Home"):
        assert hidden not in doc.text
    assert doc.text == (
        "Main heading\n\nFirst paragraph with a wrapped source line & an entity.\n\n"
        "Second paragraph.\nAfter a break.\n\nItem one\n\nItem two"
    )


def test_html_without_title_uses_h1_then_stem(tmp_path):
    [doc] = load_file(write(tmp_path, "a.htm", "<h1>Heading  one</h1><p>text</p>"), SETTINGS)
    assert doc.title == "Heading one"
    [doc] = load_file(write(tmp_path, "b.html", "<p>just text</p>"), SETTINGS)
    assert doc.title == "b"


def test_pdf_one_document_per_page(tmp_path):
    pdf = make_pdf(["Hello page one. It has two sentences.", "Second page (here)."])
    path = write(tmp_path, "two.pdf", pdf)
    docs = load_file(path, SETTINGS)
    src = str(path.resolve())
    assert [d.doc_id for d in docs] == [f"{src}#page=1", f"{src}#page=2"]
    assert [d.text for d in docs] == ["Hello page one. It has two sentences.", "Second page (here)."]
    assert [d.metadata["page"] for d in docs] == [1, 2]
    assert all(d.source == src and d.title == "two" and d.metadata["source_type"] == "pdf" for d in docs)


def test_committed_pdf_fixture_loads():
    docs = load_file(FIXTURES / "two_pages.pdf", SETTINGS)
    assert [d.metadata["page"] for d in docs] == [1, 2]
    assert "first page" in docs[0].text


def test_pdf_encrypted_with_empty_user_password_is_read(tmp_path):
    path = write(tmp_path, "open.pdf", encrypt(make_pdf(["Readable text."]), user_password=""))
    [doc] = load_file(path, SETTINGS)
    assert doc.text == "Readable text."


def test_pdf_blank_pages_are_skipped(tmp_path):
    docs = load_file(write(tmp_path, "gap.pdf", make_pdf(["", "Only page two."])), SETTINGS)
    assert [(d.metadata["page"], d.text) for d in docs] == [(2, "Only page two.")]


def test_jsonl_rows_with_ids_titles_and_metadata():
    path = FIXTURES / "rows.jsonl"
    docs = load_file(path, SETTINGS)
    src = str(path.resolve())
    assert [d.doc_id for d in docs] == [f"{src}#a1", f"{src}#a2"]
    assert [d.title for d in docs] == ["First row", "Second row"]
    assert [d.text for d in docs] == ["Alpha text.", "Beta text."]
    first, second = docs
    assert first.metadata["row"] == 1 and second.metadata["row"] == 3  # line numbers; line 2 is blank
    assert first.metadata["lang"] == "en" and first.metadata["score"] == 3
    assert "tags" not in first.metadata  # not a scalar
    assert "text" not in first.metadata and "title" not in first.metadata
    assert second.metadata["ok"] is True and second.metadata["source_type"] == "jsonl"


def test_json_list_without_ids_uses_item_numbers():
    path = FIXTURES / "items.json"
    docs = load_file(path, SETTINGS)
    src = str(path.resolve())
    assert [d.doc_id for d in docs] == [f"{src}#row=1", f"{src}#row=2"]
    assert [d.title for d in docs] == ["One", "Two"]
    assert "extra" not in docs[1].metadata  # null is not kept


def test_json_single_object_and_configured_fields(tmp_path):
    path = write(tmp_path, "one.json", json.dumps({"key": 7, "body": "Body text.", "name": "N"}))
    settings = IngestSettings(json_text_field="body", json_title_field="name", json_id_field="key")
    [doc] = load_file(path, settings)
    assert doc.doc_id == f"{path.resolve()}#7"
    assert (doc.text, doc.title, doc.metadata["key"]) == ("Body text.", "N", 7)


def test_csv_rows_with_multiline_cells():
    path = FIXTURES / "table.csv"
    docs = load_file(path, SETTINGS)
    src = str(path.resolve())
    assert [d.doc_id for d in docs] == [f"{src}#r1", f"{src}#r2"]
    assert docs[1].text == "Text of row two\nspans two lines."
    assert docs[0].metadata["category"] == "alpha" and docs[0].metadata["source_type"] == "csv"
    assert [d.metadata["row"] for d in docs] == [2, 3]  # the line where each record starts
    assert docs[0].title == "Row one"


def test_csv_custom_text_column(tmp_path):
    path = write(tmp_path, "c.csv", "body,lang\nHello there.,en\n")
    [doc] = load_file(path, IngestSettings(csv_text_column="body"))
    assert doc.text == "Hello there."
    assert doc.doc_id == f"{path.resolve()}#row=2"
    assert doc.metadata["lang"] == "en"


def test_csv_semicolon_separator(tmp_path):
    [doc] = load_file(write(tmp_path, "eu.csv", "text;price\nCheap, really.;3,50\n"), SETTINGS)
    assert doc.text == "Cheap, really." and doc.metadata["price"] == "3,50"


def test_jsonl_line_separator_inside_a_string(tmp_path):
    path = write(tmp_path, "u.jsonl", '{"text": "one\u2028two"}\n{"text": "three"}\n')  # a raw U+2028
    assert [d.text for d in load_file(path, SETTINGS)] == ["one two", "three"]


def test_utf8_bom_is_stripped_and_whitespace_normalised(tmp_path):
    path = write(tmp_path, "bom.txt", b"\xef\xbb\xbf  Hello\t\t world  \r\n\r\n\r\n\r\nNext\x0bpara \n")
    [doc] = load_file(path, SETTINGS)
    assert doc.text == "Hello world\n\nNext para"


def test_doc_ids_and_hashes_are_stable(tmp_path):
    path = write(tmp_path, "s.txt", "Same text.")
    first, second = load_file(path, SETTINGS), load_file(path, SETTINGS)
    assert first == second


# -- bad input ---------------------------------------------------------------------------------


def test_binary_file_with_nul_bytes(tmp_path):
    msg = error_of(write(tmp_path, "blob.txt", b"abc\x00\x01\x02def"))
    assert "binary" in msg and "NUL" in msg


def test_binary_file_with_known_magic(tmp_path):
    assert "PNG image" in error_of(write(tmp_path, "img.md", b"\x89PNG\r\n\x1a\nrest of it"))
    assert "zip archive" in error_of(write(tmp_path, "doc.txt", b"PK\x03\x04whatever"))


def test_not_utf8_names_offset_and_iconv(tmp_path):
    msg = error_of(write(tmp_path, "latin.txt", "caf\u00e9 ol\u00e9".encode("latin-1")))
    assert "not valid UTF-8" in msg and "offset 3" in msg and "iconv" in msg


def test_not_utf8_offset_counts_the_bom(tmp_path):
    assert "offset 5" in error_of(write(tmp_path, "b.txt", b"\xef\xbb\xbfab\xff"))


def test_utf16_is_named(tmp_path):
    msg = error_of(write(tmp_path, "w.txt", "hello".encode("utf-16")))
    assert "UTF-16" in msg and "iconv" in msg


def test_empty_file(tmp_path):
    assert "empty" in error_of(write(tmp_path, "e.txt", b""))


def test_whitespace_only_file(tmp_path):
    assert "only whitespace" in error_of(write(tmp_path, "w.md", " \n\t\n  "))


def test_html_with_no_visible_text(tmp_path):
    assert "no text" in error_of(write(tmp_path, "s.html", "<script>x()</script><style>p{}</style>"))


def test_oversized_file_names_size_and_setting(tmp_path):
    path = write(tmp_path, "big.txt", "word " * 300_000)  # 1.5 MB
    msg = error_of(path, IngestSettings(max_file_mb=1))
    assert "1.4 MB" in msg and "ingest.max_file_mb" in msg


def test_unsupported_extension(tmp_path):
    msg = error_of(write(tmp_path, "doc.docx", "text"))
    assert "unsupported file type '.docx'" in msg and ".pdf" in msg


def test_missing_file(tmp_path):
    assert "no such file" in error_of(tmp_path / "gone.txt")


def test_encrypted_pdf(tmp_path):
    msg = error_of(write(tmp_path, "locked.pdf", encrypt(make_pdf(["Secret."]), user_password="pw")))
    assert "encrypted" in msg and "qpdf" in msg


@pytest.mark.parametrize("content", [
    make_pdf(["Cut short."])[:150],  # truncated
    b"%PDF-1.4\nthis is not a pdf body at all\n",
])
def test_corrupt_pdf(tmp_path, content):
    assert "corrupt PDF" in error_of(write(tmp_path, "bad.pdf", content))


def test_pdf_without_header(tmp_path):
    assert "not a PDF file" in error_of(write(tmp_path, "fake.pdf", "plain text pretending"))


def test_pdf_without_text(tmp_path):
    msg = error_of(write(tmp_path, "scan.pdf", make_pdf(["", ""])))
    assert "no extractable text in 2 page(s)" in msg and "OCR" in msg


def test_jsonl_invalid_line_is_named_and_file_rejected_whole(tmp_path):
    path = write(tmp_path, "r.jsonl", '{"text": "ok"}\n{"text": "ok too"}\n{"text": broken}\n')
    msg = error_of(path)
    assert "line 3 is not valid JSON" in msg


def test_jsonl_row_missing_text_field_names_field_and_setting(tmp_path):
    path = write(tmp_path, "r.jsonl", '{"text": "ok"}\n{"body": "no text", "id": 2}\n')
    msg = error_of(path)
    assert "line 2 has no 'text' field" in msg and "body, id" in msg and "ingest.json_text_field" in msg


@pytest.mark.parametrize(("line", "expected"), [
    ('{"text": ""}', "'text' is empty"),
    ('{"text": 5}', "'text' is a int, not a string"),
    ("[1, 2]", "line 1 is a list, not a JSON object"),
])
def test_jsonl_bad_rows(tmp_path, line, expected):
    assert expected in error_of(write(tmp_path, "r.jsonl", line + "\n"))


def test_json_duplicate_ids(tmp_path):
    path = write(tmp_path, "d.json", json.dumps([{"id": "x", "text": "a"}, {"id": "x", "text": "b"}]))
    msg = error_of(path)
    assert "item 2 repeats the id of item 1" in msg and "ingest.json_id_field" in msg


def test_json_invalid_and_empty(tmp_path):
    assert "not valid JSON at line 2" in error_of(write(tmp_path, "a.json", '[\n{"text": }\n]'))
    assert "no rows" in error_of(write(tmp_path, "b.json", "[]"))
    assert "item 1 is a str" in error_of(write(tmp_path, "c.json", '["just a string"]'))


def test_csv_without_text_column_lists_columns(tmp_path):
    msg = error_of(write(tmp_path, "c.csv", "title,body\nA,B\n"))
    assert "no column 'text' (columns: title, body)" in msg and "ingest.csv_text_column" in msg


def test_csv_row_with_too_many_values(tmp_path):
    assert "line 3 has 3 values" in error_of(write(tmp_path, "c.csv", "text,x\na,b\nc,d,e\n"))


def test_csv_header_only(tmp_path):
    assert "no rows" in error_of(write(tmp_path, "c.csv", "text,x\n"))


# -- finding files -----------------------------------------------------------------------------


def test_iter_files_walks_sorted_skips_hidden_and_filters(tmp_path):
    for name in ["b.txt", "a.md", "sub/c.pdf", "sub/deeper/d.TXT", "x.docx", ".hidden.txt",
                 ".git/e.txt", "sub/.cache/f.txt"]:
        write(tmp_path, name, "t")
    found = list(iter_files([tmp_path], SETTINGS.extensions))
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "a.md", "b.txt", "sub/c.pdf", "sub/deeper/d.TXT"
    ]


def test_iter_files_direct_file_any_extension_and_no_duplicates(tmp_path):
    odd = write(tmp_path, "x.docx", "t")
    txt = write(tmp_path, "a.txt", "t")
    found = list(iter_files([odd, tmp_path, str(txt)], ["txt"]))
    assert found == [odd, txt]


def test_iter_files_missing_path(tmp_path):
    with pytest.raises(IngestError, match=r"nope: no such file or folder; check the path"):
        list(iter_files([tmp_path / "nope"], SETTINGS.extensions))


def test_file_hash_is_sha256_of_bytes(tmp_path):
    data = b"x" * (3 << 20)  # several read blocks
    path = write(tmp_path, "h.txt", data)
    assert file_hash(path) == hashlib.sha256(data).hexdigest()
