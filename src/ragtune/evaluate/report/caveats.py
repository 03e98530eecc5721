"""The warning a report gives when its run is too small to decide anything on."""

from __future__ import annotations

from ragtune.evaluate.results import ComparisonResults

MIN_ITEMS = 30  # below this a 95% interval on a share is wider than about ±15 points


def test_items(results: ComparisonResults) -> int:
    return len(dict.fromkeys(it.item_id for it in results.items))


def small_run_warning(results: ComparisonResults) -> str | None:
    """One sentence for a --quick run or one with under ``MIN_ITEMS`` test items; None otherwise."""
    n = test_items(results)
    quick = bool(results.config.get("quick"))
    if not quick and n >= MIN_ITEMS:
        return None
    why = "a quick run (--quick)" if quick else "a small run"
    return (f"Not for decisions: {why} with {n} test item{'' if n == 1 else 's'} (fewer than {MIN_ITEMS}); "
            "the intervals are too wide to tell the modes apart. Run without --quick, or with more test "
            "questions (sizes.test_questions), for numbers to decide on.")
