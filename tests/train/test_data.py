from __future__ import annotations

import json

import pytest

from ragtune.errors import DataError
from ragtune.train.data import (
    Example,
    check_lengths,
    jsonl_rows,
    load_documents,
    load_labeled,
    load_qa,
    sha256_files,
    split_train_val,
)


def _jsonl(path, rows):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def test_every_qa_shape_is_read(tmp_path):
    f = _jsonl(tmp_path / "qa.jsonl", [
        {"question": "Q1", "answer": "A1", "context": "ctx", "doc_id": 7},
        {"question": "Q2", "answers": [{"text": "A2"}, {"text": "other"}]},
        {"question": "Q3", "answers": ["A3"]},
        "",
        {"prompt": "P", "completion": "C"},
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]},
    ])
    items = load_qa(f)
    assert [i.kind for i in items] == ["qa", "qa", "qa", "prompt", "chat"]
    assert [i.answer for i in items[:4]] == ["A1", "A2", "A3", "C"]
    assert items[0].context == "ctx" and items[0].doc_id == "7"
    assert items[3].where == f"{f}:5"  # blank lines still count in line numbers
    assert items[4].messages[1] == {"role": "assistant", "content": "yo"}


@pytest.mark.parametrize("row, needle", [
    ({"question": "Q"}, "field 'answer' is missing"),
    ({"question": "Q", "answer": "  "}, "field 'answer' is missing"),
    ({"prompt": "P", "completion": None}, "field 'completion'"),
    ({"text": "x"}, "unknown row shape"),
    ({"messages": [{"role": "user", "content": "hi"}]}, "no assistant message"),
    ({"messages": [{"role": "bot", "content": "hi"}]}, "messages[0] needs a role"),
    ("{not json", "not valid JSON"),
    ("[1, 2]", "expected a JSON object"),
])
def test_bad_rows_name_the_file_and_line(tmp_path, row, needle):
    f = _jsonl(tmp_path / "qa.jsonl", [{"question": "ok", "answer": "ok"}, row])
    with pytest.raises(DataError) as e:
        load_qa(f)
    assert f"{f}:2:" in str(e.value) and needle in str(e.value)


def test_empty_and_missing_files(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(DataError, match="empty"):
        load_qa(tmp_path / "empty.jsonl")
    with pytest.raises(DataError, match="no such file"):
        load_qa(tmp_path / "nope.jsonl")


def test_unicode_line_separators_inside_strings_read_back(tmp_path):
    # json.dumps(ensure_ascii=False), as ragtune writes its own files, leaves these unescaped;
    # str.splitlines() would break the line at each of them.
    seps = ["\u2028", "\u2029", "\x85", "\x1c", "\x1d", "\x1e", "\x0b", "\x0c"]
    rows = [{"question": f"Q{i}{sep}more", "answer": f"line one{sep}line two"} for i, sep in enumerate(seps)]
    f = tmp_path / "qa.jsonl"
    body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    f.write_bytes(("\ufeff" + body.replace("\n", "\r\n", 1)).encode("utf-8"))  # a BOM and one CRLF too
    got = list(jsonl_rows(f))
    assert [obj for _, obj in got] == rows
    assert [where for where, _ in got] == [f"{f}:{n}" for n in range(1, len(rows) + 1)]
    assert [i.answer for i in load_qa(f)] == [r["answer"] for r in rows]


def test_line_numbers_count_newlines_only(tmp_path):
    f = tmp_path / "qa.jsonl"
    good = json.dumps({"question": "a\u2028b", "answer": "c"}, ensure_ascii=False)
    f.write_text(f"{good}\n\n{good}\n{{broken\n", encoding="utf-8")
    with pytest.raises(DataError) as e:
        list(jsonl_rows(f))
    assert f"{f}:4:" in str(e.value) and "not valid JSON" in str(e.value)


def test_non_utf8_is_one_line_error(tmp_path):
    f = tmp_path / "qa.jsonl"
    f.write_bytes(b'{"question": "caf\xe9", "answer": "x"}\n')
    with pytest.raises(DataError, match="not UTF-8"):
        list(jsonl_rows(f))


def test_classification_jsonl_and_csv(tmp_path):
    j = _jsonl(tmp_path / "c.jsonl", [{"text": "good", "label": "pos"}, {"text": "bad", "label": "neg"}])
    c = tmp_path / "c.csv"
    c.write_text('text,label\n"good, very",pos\nbad,neg\n')
    assert [(i.text, i.label) for i in load_labeled(j)] == [("good", "pos"), ("bad", "neg")]
    rows = load_labeled(c)
    assert rows[0].text == "good, very" and rows[1].where == f"{c}:3"


def test_one_class_and_missing_labels_are_rejected(tmp_path):
    one = _jsonl(tmp_path / "one.jsonl", [{"text": "a", "label": "x"}, {"text": "b", "label": "x"}])
    with pytest.raises(DataError, match="at least two classes"):
        load_labeled(one)
    c = tmp_path / "c.csv"
    c.write_text("text,label\na,pos\nb,\n")
    with pytest.raises(DataError, match=rf"{c}:3: field 'label'"):
        load_labeled(c)


def test_split_is_seeded_disjoint_and_complete():
    items = list(range(50))
    tr, va = split_train_val(items, 0.2, seed=3)
    assert len(va) == 10 and sorted(tr + va) == items
    assert split_train_val(items, 0.2, seed=3) == (tr, va)
    assert split_train_val(items, 0.2, seed=4)[1] != va
    assert split_train_val(list(range(4)), 0.2) == ([0, 1, 2, 3], [])


def test_length_checks():
    ok = Example([1, 2, 3], [-100, 2, 3], "f:1")
    long = Example(list(range(10)), list(range(10)), "f:2")
    assert check_lengths([ok, long], max_len=10) == [ok, long]
    with pytest.raises(DataError, match="f:2: 10 tokens is longer than max_seq_len 8"):
        check_lengths([ok, long], max_len=8)
    assert check_lengths([ok, long], max_len=8, skip_long=True) == [ok]
    with pytest.raises(DataError, match="model's context"):
        check_lengths([long], max_len=100, context_len=9)
    with pytest.raises(DataError, match="no tokens to learn from"):
        check_lengths([Example([1, 2], [-100, -100], "f:3")], max_len=8)


def test_documents_and_hash(tmp_path):
    (tmp_path / "a.txt").write_text("Alpha beta.")
    (tmp_path / "b.md").write_text("# T\n\nGamma.")
    docs = load_documents([tmp_path])
    assert len(docs) == 2 and "Alpha beta." in docs[0].text and "Gamma." in docs[1].text
    h = sha256_files([tmp_path / "a.txt"])
    (tmp_path / "a.txt").write_text("Alpha beta!")
    assert sha256_files([tmp_path / "a.txt"]) != h
    with pytest.raises(DataError, match="no such file"):
        load_documents([tmp_path / "missing"])
