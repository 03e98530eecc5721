"""Text helpers on the ground floor: SQuAD normalisation, token F1, content words, sentence spans.

Used by generation (citation attribution, the reader), training (answer checks) and evaluation
(metrics) alike, so none of those layers imports another for them.

Example:
    >>> normalize_answer("The  Eiffel-Tower!")
    'eiffeltower'
    >>> token_f1("the Eiffel Tower in Paris", ["Eiffel Tower"])
    0.6666666666666666
    >>> [s for s, e in sentence_spans("It rained. Then it stopped!")]
    [0, 11]
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

from ragtune.errors import DataError

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """Lower-case, drop ASCII punctuation, drop the articles a/an/the, collapse whitespace.

    Source: the official SQuAD v1.1 ``evaluate-v1.1.py`` (Rajpurkar et al. 2016), step for
    step and in the same order, so numbers compare with published SQuAD scores. Note that
    punctuation is deleted, not replaced by a space: "Eiffel-Tower" becomes "eiffeltower".
    """
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def answer_tokens(text: str) -> list[str]:
    """SQuAD-normalised tokens."""
    return normalize_answer(text).split()


def pair_f1(prediction: str, gold: str) -> float:
    """Token F1 of one prediction against one gold answer (SQuAD v1.1 ``f1_score``)."""
    pred, ref = answer_tokens(prediction), answer_tokens(gold)
    same = sum((Counter(pred) & Counter(ref)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def check_golds(golds: Sequence[str]) -> None:
    """Refuse gold answers given as one string or as an empty list (one clear line each)."""
    if isinstance(golds, str):
        raise DataError("gold answers must be a list of strings, not one string: wrap it as [answer]")
    if len(golds) == 0:
        raise DataError("an item has no gold answer: every evaluated question needs at least one")


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    """Bag-of-tokens F1 after normalisation, the maximum over the gold answers.

    Source: SQuAD v1.1 ``f1_score`` with ``metric_max_over_ground_truths``. As in the
    official script, an empty prediction scores 0 even against an empty gold answer.
    """
    check_golds(golds)
    return max(pair_f1(prediction, g) for g in golds)


STOP_WORDS = frozenset(
    """
    i me my we our you your he him his she her it its they them their this that these those
    am is are was were be been being have has had do does did doing will would shall should can
    could may might must and but or nor if then else so than too very just also not no yes
    of at by for with about against between into through during before after above below to
    from up down in out on off over under again further once here there when where why how
    what which who whom whose all any both each few more most other some such only own same
    as until while because what s t dont cant wont isnt arent wasnt didnt doesnt im ive
    answer context question according based given text passage
    """.split()
)


_POSSESSIVE = re.compile(r"'s\b", re.IGNORECASE)
_OTHER_PUNCT = re.compile(r"[^\w\s\x00-\x7f]")  # non-ASCII punctuation and symbols: curly quotes, dashes


def content_tokens(text: str) -> list[str]:
    """SQuAD-normalised tokens of ``text`` without the stop words, for matching words between texts.

    Two changes to SQuAD's normalisation, which removes ASCII punctuation only: other punctuation
    (curly quotes, dashes) separates words instead of staying inside them ("“Resign.”" gives
    "resign", not "“resign”"), and a possessive "'s" is dropped ("Gandhi's" gives "gandhi", not
    "gandhis"), so an answer matches the passage it was taken from.
    """
    text = _OTHER_PUNCT.sub(lambda m: "'" if m.group(0) == "\u2019" else " ", text)
    text = _POSSESSIVE.sub("", text)
    return [t for t in answer_tokens(text) if t not in STOP_WORDS]


# A sentence ends at . ! ? (or an ellipsis), optionally followed by closing quotes or brackets,
# then white space and an upper-case letter, digit, quote or bracket; a new line always ends one.
# Abbreviations of one or two letters ("U.S.", "Dr.") are not ends.
_END = re.compile(r"(?<!\b[A-Z])(?<!\b[A-Z][a-z])[.!?\u2026]+[\"'\u201d\u2019)\]]*\s+(?=[\"'\u201c(\[A-Z0-9])|\n+")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character offsets of the sentences of ``text``, white space trimmed."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _END.finditer(text):
        spans.append((start, m.start() + len(m.group(0).rstrip())))
        start = m.end()
    spans.append((start, len(text)))
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out
