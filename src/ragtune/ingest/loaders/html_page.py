"""HTML (.html, .htm): the visible text as one document, titled by ``<title>`` or the first ``<h1>``."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from ragtune.config import IngestSettings
from ragtune.ingest.loaders.base import decode, normalize_text, whole_file
from ragtune.ingest.loaders.registry import register_loader
from ragtune.types import Document


class _HTMLText(HTMLParser):
    """Visible text of an HTML page: block elements become paragraph breaks."""

    SKIP = {"script", "style", "nav", "noscript", "template", "svg"}
    BLOCK = {
        "p", "div", "section", "article", "main", "header", "footer", "aside", "blockquote", "pre",
        "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "dl", "dt", "dd", "table", "tr",
        "figure", "figcaption", "hr", "form", "fieldset", "address", "details", "summary", "body",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title_parts: list[str] = []
        self.h1_parts: list[str] = []
        self._skip = 0
        self._pre = 0
        self._in_title = False
        self._in_h1 = False
        self._h1_done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
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

    def handle_endtag(self, tag: str) -> None:
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
    parser = _HTMLText()
    parser.feed(decode(path, data))
    parser.close()
    text = normalize_text("".join(parser.parts))
    title = " ".join("".join(parser.title_parts).split()) or " ".join("".join(parser.h1_parts).split())
    return whole_file(path, text, title or path.stem, "html")


register_loader([".html", ".htm"], load_html)
