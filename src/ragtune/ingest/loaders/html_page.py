"""HTML (.html, .htm): the visible text as one document, titled by ``<title>`` or the first ``<h1>``.

Elements nested deeper than ``ingest.html_max_depth`` skip the page in one line. The parser
does not recurse, but a page of 100,000 unclosed ``<div>`` is an attack or a broken export,
not a document; parsing stops at the first element past the limit.
"""

from __future__ import annotations

import re
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

from ragtune.config import IngestSettings
from ragtune.errors import IngestError
from ragtune.ingest.loaders.base import decode, normalize_text, whole_file
from ragtune.ingest.loaders.registry import register_loader
from ragtune.types import Document


class _TooDeep(Exception):
    """Raised inside the parser to stop it at the first element past the depth limit."""


class _Depth:
    """The open elements, as a browser roughly counts them, to measure how deep a page nests.

    Void elements (``<br>``, ``<img>``) never open; an end tag closes the innermost open element
    of its name and everything opened inside it; a stray end tag is ignored; and a new ``<p>``,
    ``<li>``, ``<td>``... closes an open one of the same name at the top, and a block such as
    ``<div>`` closes an open ``<p>`` (HTML lets them go unclosed), so a page of 10,000 unclosed
    paragraphs is 1 level deep, not 10,000.
    """

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
            "track", "wbr", "basefont", "frame", "keygen"}
    IMPLIED = {"p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "thead", "tbody", "tfoot",
               "rt", "rp", "colgroup", "caption"}
    CLOSES_P = {"address", "article", "aside", "blockquote", "details", "div", "dl", "fieldset", "figure",
                "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "main", "nav", "ol", "pre",
                "section", "table", "ul"}

    def __init__(self, limit: int):
        self.limit = limit
        self.stack: list[str] = []
        self.open = Counter[str]()

    def start(self, tag: str) -> None:
        if tag in self.VOID:
            return
        if tag in self.IMPLIED:
            self._close_implied(tag)
        if tag in self.CLOSES_P:
            self._close_implied("p")
        self.stack.append(tag)
        self.open[tag] += 1
        if len(self.stack) > self.limit:
            raise _TooDeep

    def end(self, tag: str) -> None:
        if self.open[tag]:  # the scan walks over what it then pops: linear in the page overall
            i = len(self.stack) - 1
            while self.stack[i] != tag:
                i -= 1
            self._pop_to(i)

    def _close_implied(self, tag: str) -> None:
        """Close an open ``tag`` in the run of implied-end elements at the top (each name is in it once)."""
        if not self.open[tag]:
            return
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i] not in self.IMPLIED:
                return
            if self.stack[i] == tag:
                self._pop_to(i)
                return

    def _pop_to(self, i: int) -> None:
        for t in self.stack[i:]:
            self.open[t] -= 1
        del self.stack[i:]


class _HTMLText(HTMLParser):
    """Visible text of an HTML page: block elements become paragraph breaks."""

    SKIP = {"script", "style", "nav", "noscript", "template", "svg"}
    BLOCK = {
        "p", "div", "section", "article", "main", "header", "footer", "aside", "blockquote", "pre",
        "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "dl", "dt", "dd", "table", "tr",
        "figure", "figcaption", "hr", "form", "fieldset", "address", "details", "summary", "body",
    }

    def __init__(self, max_depth: int) -> None:
        super().__init__(convert_charrefs=True)
        self.depth = _Depth(max_depth)
        self.parts: list[str] = []
        self.title_parts: list[str] = []
        self.h1_parts: list[str] = []
        self._skip = 0
        self._pre = 0
        self._in_title = False
        self._in_h1 = False
        self._h1_done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.depth.start(tag)
        if tag in self.SKIP:
            self._skip += 1
        elif tag == "title":
            self._in_title = True
        elif tag == "br":
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append(" ")
        if tag in self.BLOCK:
            self.parts.append("\n\n")
        if tag == "pre":
            self._pre += 1
        if tag == "h1" and not self._h1_done:
            self._in_h1 = True

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)  # <div/> opens and closes at once
        self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        self.depth.end(tag)
        if tag in self.SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag == "title":
            self._in_title = False
        if tag in self.BLOCK:
            self.parts.append("\n\n")
        if tag == "pre":
            self._pre = max(0, self._pre - 1)
        if tag == "h1" and self._in_h1:
            self._in_h1, self._h1_done = False, True

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_parts.append(data)
            return
        if self._skip:
            return
        if not self._pre:
            data = re.sub(r"\s+", " ", data)  # source line wraps are not breaks in HTML
        self.parts.append(data)
        if self._in_h1:
            self.h1_parts.append(data)


def load_html(path: Path, data: bytes, settings: IngestSettings) -> list[Document]:
    parser = _HTMLText(settings.html_max_depth)
    try:
        parser.feed(decode(path, data))
        parser.close()
    except _TooDeep:
        limit = settings.html_max_depth
        raise IngestError(
            f"{path}: elements nest more than {limit} levels deep (ingest.html_max_depth = {limit}); close the "
            "page's open tags or raise ingest.html_max_depth"
        ) from None
    except AssertionError as e:  # Python's parser asserts on a malformed <![...[ section (e.g. <![DATA[)
        why = " ".join(str(e).split())[:120]
        raise IngestError(f"{path}: malformed HTML the parser cannot read ({why}); fix the page or remove it") from None
    text = normalize_text("".join(parser.parts))
    title = " ".join("".join(parser.title_parts).split()) or " ".join("".join(parser.h1_parts).split())
    return whole_file(path, text, title or path.stem, "html")


register_loader([".html", ".htm"], load_html)
