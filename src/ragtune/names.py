"""Names of knowledge bases, trained models and experiments: safe as folder names, one rule for all."""

from __future__ import annotations

import re

from ragtune.errors import RagtuneError

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
NAME_RE = re.compile(NAME_PATTERN)


def check_name(name: str, what: str, error: type[RagtuneError] = RagtuneError) -> str:
    """Return ``name`` if it is 1-64 letters, digits, '.', '_' or '-' starting with a letter or digit."""
    if not NAME_RE.match(name or ""):
        raise error(f"invalid {what} name {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a "
                    "letter or digit")
    return name
