"""End to end: `ragtune compare --quick` builds every contender, answers, measures and reports."""

import json
from html.parser import HTMLParser

import pytest
from typer.testing import CliRunner

from ragtune.cli.main import app

pytestmark = pytest.mark.slow


class _Ids(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids = set()

    def handle_starttag(self, tag, attrs):
        self.ids.update(v for k, v in attrs if k == "id")


def test_quick_comparison_writes_a_real_report(tmp_path):
    d = tmp_path / "data"
    res = CliRunner().invoke(app, ["--data-dir", str(d), "compare", "--quick", "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout[res.stdout.index("{"):])
    metrics = out["metrics"]
    assert set(metrics) == {"base", "rag", "ft", "ft+rag", "raft"}
    # Real, different numbers per mode: retrieval modes have groundedness scores, closed-book ones do not,
    # and the modes do not all give the same answers.
    assert "supported_token_share" in metrics["rag"] and "supported_token_share" not in metrics["base"]
    results = json.loads(open(out["report"]["json"]).read())
    preds = {m: [i["prediction"] for i in results["items"] if i["mode"] == m] for m in metrics}
    assert len({tuple(p) for p in preds.values()}) >= 3
    # 4 test questions, and the example's until-decisive adds at most one batch of 2 in a quick run
    grown = out["until_decisive"]
    assert grown["added"] in (0, 2) and grown["batches"] <= 1
    assert all(len(p) == 4 + grown["added"] for p in preds.values())
    assert results["freshness"] and {f["mode"] for f in results["freshness"]} >= {"rag", "ft"}
    rag_fresh = next(f for f in results["freshness"] if f["mode"] == "rag")
    assert rag_fresh["update_s"] > 0
    assert results["retrieval"] and results["recommendation"]["choice"] in {"rag", "fine-tuning", "both", "base"}
    # A quick run says, in results.json, the report and the recommendation, that it is not for decisions.
    assert results["config"]["quick"] is True and "not for decisions" in results["notes"][0]
    assert "quick" in results["recommendation"]["rules"]
    costs = results["costs"]
    assert costs["rag"]["index_bytes"] > 0 and costs["ft"]["adapter_bytes"] > 0 and costs["ft"]["setup_s"] > 0
    # The report is one self-contained page with every section.
    html = open(out["report"]["html"]).read()
    p = _Ids()
    p.feed(html)
    assert {"summary", "recommendation", "accuracy", "latency", "costs", "freshness", "retrieval",
            "key-differences", "answers"} <= p.ids
    assert "http://" not in html and "https://" not in html and "<script src" not in html
    # The four claim experiments ran in their minimal --quick versions, each with its results.json section.
    lc = results["learning_curve"]
    n_train = lc["n_train_full"]
    assert lc["fractions"] == [0.5, 1.0] and 0 < n_train <= 8 and set(lc["flat"]) == {"base", "rag"}
    assert {(pt["mode"], pt["n_train"]) for pt in lc["points"]} == {(m, n) for m in ("ft", "ft+rag", "raft")
                                                                    for n in ((n_train + 1) // 2, n_train)}
    assert results["kb_quality"]["conditions"] and results["kb_quality"]["distractors"]["other_topic"] == 2
    assert results["versatility"]["n"] == 3 and results["versatility"]["topic_b"]
    assert results["removed_facts"]["n"] >= 1 and results["removed_facts"]["modes"]
    assert "learning-curve" in p.ids and "Where fine-tuning catches up" in html
    assert "not for decisions" in html
    # Every answer is kept and browsable from the run log.
    res = CliRunner().invoke(app, ["--data-dir", str(d), "runs", "show", out["run_id"], "--answers", "--mode", "rag",
                                   "--json"])
    rows = json.loads(res.stdout)
    assert len(rows) == 4 + grown["added"] and all(r["prompt"] and r["retrieved"] for r in rows)
    # A second run resumes: every stage and answer comes from the workspace, so the numbers are identical.
    res2 = CliRunner().invoke(app, ["--data-dir", str(d), "compare", "--quick", "--json"], catch_exceptions=False)
    out2 = json.loads(res2.stdout[res2.stdout.index("{"):])
    assert out2["metrics"] == metrics and out2["run_id"] != out["run_id"]
    # ... and so does the terminal.
    res3 = CliRunner().invoke(app, ["--data-dir", str(d), "compare", "--quick"], catch_exceptions=False)
    assert res3.exit_code == 0 and "not for decisions" in " ".join(res3.output.split()), res3.output
    # The report re-renders from results.json.
    assert CliRunner().invoke(app, ["--data-dir", str(d), "report", out["run_id"]]).exit_code == 0
