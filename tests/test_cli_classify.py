"""`ragtune train classify` then `ragtune classify`: labels with probabilities from the stored label set."""

import json

from typer.testing import CliRunner

from ragtune.cli.main import app
from ragtune.errors import ModelNotFoundError
from tests.conftest import ROOT


def test_train_then_classify(tmp_path):
    runner = CliRunner()
    d = str(tmp_path / "data")
    data = ROOT / "examples" / "sentiment" / "data" / "train.jsonl"
    res = runner.invoke(app, ["--data-dir", d, "train", "classify", "-d", str(data), "--name", "senti",
                              "--method", "embedder"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["--data-dir", d, "classify", "--model", "senti", "--json",
                              "My flight was cancelled again, terrible service", "Thank you so much, great crew!"])
    rows = json.loads(res.stdout)
    # The complaint is clearly negative; the thanks is far from negative (neutral and positive are near a tie
    # for this small head: 0.464 against 0.452 on a Zen 3, positive on AVX-512 machines).
    assert rows[0]["label"] == "negative" and rows[0]["scores"]["negative"] > 0.6
    assert rows[1]["scores"]["positive"] > 3 * rows[1]["scores"]["negative"]
    assert all(abs(sum(r["scores"].values()) - 1) < 1e-3 and set(r["scores"]) == {"negative", "neutral", "positive"}
               for r in rows)
    res = runner.invoke(app, ["--data-dir", d, "classify", "--model", "nope", "x"])
    assert isinstance(res.exception, ModelNotFoundError)
