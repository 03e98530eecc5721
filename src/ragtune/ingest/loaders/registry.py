"""The loader table: file extension -> loader, and :func:`load_file`, which reads through it.

Built-in loaders register here exactly as a third-party one does::

    from ragtune.ingest.loaders import register_loader, whole_file, decode, normalize_text

    def load_rst(path, data, settings):
        return whole_file(path, normalize_text(decode(path, data)), path.stem, "rst")

    register_loader(".rst", load_rst)

A folder ingest keeps only the extensions in ``ingest.extensions``; add the new one there too
(a file named directly is loaded whatever its extension).
"""

from __future__ import annotations

from pathlib import Path

from ragtune.config import IngestSettings
from ragtune.errors import ConfigError, IngestError
from ragtune.ingest.loaders.base import Loader, read_bytes
from ragtune.ingest.loaders.walk import norm_ext
from ragtune.types import Document

LOADERS: dict[str, Loader] = {}


def register_loader(extensions: str | list[str] | tuple[str, ...], loader: Loader, replace: bool = False) -> Loader:
    """Make ``loader`` read files ending in each of ``extensions`` (``".rst"`` or ``"rst"``).

    An extension that already has a loader is refused unless ``replace=True``, so two packages
    cannot silently take the same format. Returns ``loader``.
    """
    exts = [extensions] if isinstance(extensions, str) else list(extensions)
    if not exts:
        raise ConfigError("register_loader: no extension given; pass one like '.rst'")
    if not callable(loader):
        raise ConfigError(f"register_loader: {loader!r} is not callable; pass a function (path, data, settings) "
                          "-> list[Document]")
    normed = [norm_ext(e) for e in exts]
    for ext in normed:
        if ext == "." or any(c in ext for c in "/\\ "):
            raise ConfigError(f"register_loader: {ext!r} is not a file extension; pass one like '.rst'")
        if ext in LOADERS and LOADERS[ext] is not loader and not replace:
            raise ConfigError(f"register_loader: {ext} already has the loader {_name(LOADERS[ext])}; pass "
                              "replace=True to take it over")
    for ext in normed:
        LOADERS[ext] = loader
    return loader


def _name(loader: Loader) -> str:
    return f"{getattr(loader, '__module__', '?')}.{getattr(loader, '__qualname__', type(loader).__name__)}"


def load_file(path: Path, settings: IngestSettings) -> list[Document]:
    """Read one file into documents, or raise ``IngestError`` with one line saying what to do.

    The whole file is parsed before anything is returned: one bad row rejects the file.
    """
    path = Path(path)
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        kind = f"'{path.suffix}'" if path.suffix else "(no extension)"
        raise IngestError(
            f"{path}: unsupported file type {kind}; use one of {', '.join(LOADERS)} or convert it to text"
        )
    return loader(path, read_bytes(path, settings), settings)
