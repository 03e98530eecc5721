"""JSON (.json: one object or a list of objects) and JSONL (.jsonl: one object per line), one document per object.

Nesting deeper than ``ingest.json_max_depth``, and a .json file or a .jsonl line larger than
``ingest.json_max_mb`` (parsed JSON takes several times its size in memory), are refused in one
line before parsing; so are, after it, numbers longer than Python reads and lone ``\\udXXX``
escapes (half a UTF-16 pair: valid JSON, but no text that UTF-8 can store).
"""

from __future__ import annotations

import json
import re
import sys
from itertools import accumulate
from pathlib import Path
from typing import Any

from ragtune.config import IngestSettings
from ragtune.errors import IngestError
from ragtune.ingest.loaders.base import decode
from ragtune.ingest.loaders.registry import register_loader
from ragtune.ingest.loaders.rows import rows_to_docs
from ragtune.types import Document

_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def json_depth(text: str) -> int:
    """How deep ``[`` and ``{`` nest in ``text``, outside strings, found without parsing it."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(1 if c in "[{" else -1 for c in brackets), default=0)


def _parse_json(path: Path, where: str, text: str, settings: IngestSettings) -> Any:
    """``json.loads`` that refuses, in one line, text over ``ingest.json_max_mb``, nesting deeper
    than ``ingest.json_max_depth``, a number Python will not read and a lone surrogate escape.

    The parser recurses once per level, so a file nested 10,000 deep would end in a
    RecursionError; the depth is checked first, from the brackets alone.
    """
    size = len(text.encode("utf-8"))
    if size > settings.json_max_mb * 1024 * 1024:
        raise IngestError(
            f"{path}: {where} is {size / 1024 / 1024:.1f} MB, larger than ingest.json_max_mb = "
            f"{settings.json_max_mb:g}; split it (a .jsonl file holds one object per line) or raise "
            "ingest.json_max_mb"
        )
    limit = settings.json_max_depth
    fix = "flatten the data or raise ingest.json_max_depth"
    if text.count("[") + text.count("{") > limit and (depth := json_depth(text)) > limit:
        raise IngestError(f"{path}: {where} nests {depth} levels deep, more than ingest.json_max_depth = "
                          f"{limit}; {fix}")
    try:
        value = json.loads(text)
    except RecursionError:
        raise IngestError(f"{path}: {where} nests too deep for the JSON parser; {fix}") from None
    except json.JSONDecodeError:
        raise
    except ValueError:  # not a syntax error: an integer past Python's limit on digits
        raise IngestError(f"{path}: {where} has a number of more than {sys.get_int_max_str_digits()} digits; "
                          "write it as a string or remove it") from None
    if _SURROGATE_ESCAPE.search(text):  # a pair such as \ud83d\ude00 decodes to one character: check
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise IngestError(f"{path}: {where} has a lone surrogate escape (\\ud800-\\udfff without its "
                              "pair), which is not text; fix that string or remove it") from None
    return value


def load_json(path: Path, data: bytes, settings: IngestSettings) -> list[Document]:
    text = decode(path, data)
    try:
        value = _parse_json(path, "the JSON", text, settings)
    except json.JSONDecodeError as e:
        raise IngestError(
            f"{path}: not valid JSON at line {e.lineno} column {e.colno} ({e.msg}); fix the file"
        ) from None
    items = value if isinstance(value, list) else [value]
    rows = []
    for n, obj in enumerate(items, start=1):
        if not isinstance(obj, dict):
            raise IngestError(
                f"{path}: item {n} is a {type(obj).__name__}, not an object; the file must hold one object "
                "or a list of objects"
            )
        rows.append((f"item {n}", n, obj))
    return rows_to_docs(path, rows, settings.json_text_field, "ingest.json_text_field", settings, "json")


def load_jsonl(path: Path, data: bytes, settings: IngestSettings) -> list[Document]:
    text = decode(path, data)
    rows = []
    for n, line in enumerate(text.split("\n"), start=1):  # not splitlines(): U+2028 is valid in JSON
        if not line.strip():
            continue
        try:
            obj = _parse_json(path, f"line {n}", line, settings)
        except json.JSONDecodeError as e:
            raise IngestError(
                f"{path}: line {n} is not valid JSON ({e.msg} at column {e.colno}); fix or remove that line"
            ) from None
        if not isinstance(obj, dict):
            raise IngestError(
                f"{path}: line {n} is a {type(obj).__name__}, not a JSON object; write one object per line"
            )
        rows.append((f"line {n}", n, obj))
    return rows_to_docs(path, rows, settings.json_text_field, "ingest.json_text_field", settings, "jsonl")


register_loader(".json", load_json)
register_loader(".jsonl", load_jsonl)
