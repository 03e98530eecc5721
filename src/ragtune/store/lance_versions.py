"""The version record of a LanceDB knowledge base: ``versions.json``, one entry per committed change-set.

LanceDB makes a table version on every write, and one ingest is several writes (delete the
changed files' chunks, add the new ones). A knowledge-base version is therefore our own record,
naming the Lance version it corresponds to (``backend["lance_version"]``). The file is only
ever replaced whole (write, fsync, ``os.replace``), so a reader sees the old record or the new
one, never half of one, and a new inode, size or mtime tells a change made by any process.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ragtune.errors import KnowledgeBaseError
from ragtune.store.base import StoreVersion


class VersionRecord:
    """``versions.json`` of one knowledge base, re-read only when the file changed (a search asks several times)."""

    def __init__(self, path: Path):
        self.path = path
        self._cache: tuple[tuple, dict[str, Any], list[StoreVersion]] | None = None

    def _load(self) -> tuple[dict[str, Any], list[StoreVersion]]:
        try:
            st = os.stat(self.path)
            key = (st.st_ino, st.st_size, st.st_mtime_ns)
            cached = self._cache
            if cached is not None and cached[0] == key:
                return cached[1], cached[2]
            data = json.loads(self.path.read_text())
        except FileNotFoundError as e:
            raise KnowledgeBaseError(
                f"{self.path.parent}: versions.json is missing; the knowledge base is damaged"
            ) from e
        versions = [StoreVersion(**v) for v in data["versions"]]
        self._cache = (key, data, versions)
        return data, versions

    def read(self) -> dict[str, Any]:
        """The record as stored (``{"versions": [...]}``); callers must not mutate it."""
        return self._load()[0]

    def write(self, data: dict[str, Any]) -> None:
        tmp = self.path.with_suffix(".json.tmp")
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def versions(self) -> list[StoreVersion]:
        return list(self._load()[1])

    def get(self, version: int | None) -> StoreVersion:
        """The entry of ``version`` (the newest for None); a version that does not exist is one line."""
        vs = self._load()[1]
        if version is None:
            return vs[-1]
        match = [v for v in vs if v.version == version]
        if not match:
            raise KnowledgeBaseError(
                f"version {version} does not exist; versions are {vs[0].version}..{vs[-1].version}"
            )
        return match[0]
