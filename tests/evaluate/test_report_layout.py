"""What a new user tripped over in report.html and the terminal summary (issue 16)."""

from __future__ import annotations

import re

from rich.console import Console
from tests.evaluate.conftest import build_qa

from ragtune.evaluate.report import print_summary, render_report
from ragtune.evaluate.report.html import grid_columns
from ragtune.evaluate.report.palette import mode_colors

FIVE = {"base": 0.05, "rag": 0.5, "ft": 0.15, "ft+rag": 0.55, "raft": 0.45}
ROOT = "/home/someone/projects/acme/knowledge/docs"


def _five(n: int = 40, quick: bool = False):
    res = build_qa(FIVE, n=n)
    res.config["quick"] = quick
    for it in res.items:
        for piece in (*it.retrieved, *it.citations):
            piece.source = f"{ROOT}/{'faq' if piece.source == 'other.md' else 'guides'}/{piece.source}"
    return res


def test_every_mode_has_its_own_colour_in_tables_cards_and_css(tmp_path):
    res = _five()
    colors = mode_colors(res)
    assert len(set(colors.values())) == len(FIVE)  # ft+rag and raft (both family "both") differ
    page = render_report(res, tmp_path)["html"].read_text(encoding="utf-8")
    swatches = re.findall(r'class="swatch" data-mode="([^"]+)" style="background: (#[0-9a-f]{6})"', page)
    assert {m for m, _ in swatches} == set(FIVE)
    for mode, color in swatches:
        assert color == colors[mode], mode  # one colour per mode everywhere on the page


def test_sample_answers_show_short_paths_with_the_full_one_on_hover(tmp_path):
    page = render_report(_five(), tmp_path, sample_size=3)["html"].read_text(encoding="utf-8")
    summaries = re.findall(r'<summary title="([^"]+)">([^<(]+)', page)
    assert summaries
    for full, short in summaries:
        assert full.startswith(ROOT) and not short.startswith("/"), (full, short)
        assert full.endswith(short.strip())
    assert f"relative to {ROOT}" in page
    assert f">{ROOT}" not in page  # the long path is never the visible text


def test_five_modes_lay_out_as_one_even_row():
    assert [grid_columns(n) for n in range(1, 10)] == [1, 2, 3, 4, 5, 3, 4, 4, 3]


def test_five_cards_per_question_in_the_page(tmp_path):
    page = render_report(_five(), tmp_path, sample_size=2)["html"].read_text(encoding="utf-8")
    assert page.count('class="answers-grid" style="--cols: 5"') == 2


def test_a_quick_or_small_run_is_marked_not_for_decisions(tmp_path):
    small = render_report(_five(n=4, quick=True), tmp_path / "q")["html"].read_text(encoding="utf-8")
    assert 'id="small-run"' in small and "a quick run (--quick) with 4 test items" in small
    big = render_report(_five(n=40), tmp_path / "b")["html"].read_text(encoding="utf-8")
    assert "small-run" not in big and "Not for decisions" not in big


def test_recommendation_names_the_mode_not_the_family(tmp_path):
    res = _five()
    render_report(res, tmp_path)
    head = res.recommendation["reasons"][0]
    assert " leads (family " in head and "both leads" not in head


def test_terminal_prints_the_recommendation_after_the_table(tmp_path):
    res = _five(n=4, quick=True)
    render_report(res, tmp_path)  # stores the recommendation in the results, as compare does
    console = Console(record=True, width=200, color_system=None)
    print_summary(res, console)
    text = console.export_text()
    assert text.index("ft+rag") < text.index("Recommendation: ")
    assert f"Recommendation: {res.recommendation['choice']}" in text
    assert res.recommendation["reasons"][0][:40] in text
    assert "Not for decisions" in text
