"""``ragtune models export NAME --ollama`` writes a Modelfile that Ollama's documented grammar accepts.

Grammar (docs/modelfile.md of ollama/ollama): ``INSTRUCTION arguments`` per line, instructions
FROM ADAPTER TEMPLATE PARAMETER SYSTEM LICENSE MESSAGE (case-insensitive), ``#`` comments, a value
over several lines in triple quotes, exactly one FROM; PARAMETER names from the documented table.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragtune.cli.main import app
from ragtune.train.ollama import CHAT_FORMATS, chat_format

INSTRUCTIONS = {"FROM", "ADAPTER", "TEMPLATE", "PARAMETER", "SYSTEM", "LICENSE", "MESSAGE"}
PARAMETERS = {"mirostat", "mirostat_eta", "mirostat_tau", "num_ctx", "repeat_last_n", "repeat_penalty",
              "temperature", "seed", "stop", "num_predict", "top_k", "top_p", "min_p"}
GO_FIELDS = {".System", ".Prompt", ".Response", ".Messages", ".Role", ".Content", ".Tools"}
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "finetune"


def parse_modelfile(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, value) pairs, or AssertionError naming the line that breaks the grammar."""
    out, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if not line or line.startswith("#"):
            continue
        head, _, rest = line.partition(" ")
        assert head.upper() in INSTRUCTIONS, f"unknown instruction {head!r}"
        rest = rest.strip()
        if rest.startswith('"""'):
            body = rest[3:]
            while '"""' not in body:
                assert i < len(lines), "unterminated triple-quoted value"
                body += "\n" + lines[i]
                i += 1
            value, after = body.split('"""', 1)
            assert not after.strip(), f"text after the closing quotes: {after!r}"
            rest = value
        assert rest, f"{head} without a value"
        out.append((head.upper(), rest))
    return out


def check_go_template(tpl: str) -> None:
    actions = re.findall(r"{{-?\s*(.*?)\s*-?}}", tpl)
    assert tpl.count("{{") == tpl.count("}}") == len(actions)
    depth = 0
    for a in actions:
        word = a.split()[0]
        if word in ("if", "range", "with"):
            depth += 1
        elif word == "end":
            depth -= 1
            assert depth >= 0, "{{ end }} without an opening block"
        for f in re.findall(r"\.[A-Z]\w*", a):
            assert f in GO_FIELDS, f"unknown template field {f}"
    assert depth == 0, "an unclosed {{ if }}/{{ range }}"


def test_every_written_chat_format_is_a_valid_go_template():
    for name, (marker, tpl, stops) in CHAT_FORMATS.items():
        check_go_template(tpl)
        assert chat_format(f"... {marker} ...") == name and stops


@pytest.mark.slow
def test_export_ollama_modelfile_reads_back(tmp_path):
    rows = EXAMPLES.joinpath("train.jsonl").read_text().splitlines()[:4]
    data = tmp_path / "four.jsonl"
    data.write_text("\n".join(rows) + "\n")
    d = ["--data-dir", str(tmp_path / "data")]
    res = CliRunner().invoke(app, [*d, "train", "sft", "--data", str(data), "--name", "ol", "--max-steps", "2",
                                   "--batch-size", "2", "--max-seq-len", "128", "--no-progress", "--json"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(app, [*d, "models", "export", "ol", "--ollama"])
    assert res.exit_code == 0, res.output
    info = json.loads(CliRunner().invoke(app, [*d, "models", "info", "ol"]).stdout)
    path = Path(info["exports"]["ollama-modelfile"])
    pairs = parse_modelfile(path.read_text(encoding="utf-8"))
    kinds = [k for k, _ in pairs]
    assert kinds.count("FROM") == 1 and kinds.count("ADAPTER") == 1 and kinds.count("TEMPLATE") == 1
    values = dict((k, v) for k, v in pairs if k != "PARAMETER")
    assert Path(values["FROM"]).is_file() and Path(values["FROM"]).read_bytes()[:4] == b"GGUF"
    assert values["ADAPTER"] == info["exports"]["gguf-adapter"]
    assert Path(values["ADAPTER"]).read_bytes()[:4] == b"GGUF"
    check_go_template(values["TEMPLATE"])
    assert "<|im_start|>" in values["TEMPLATE"]  # SmolLM2's chat template is ChatML
    params = [v.split(" ", 1) for k, v in pairs if k == "PARAMETER"]
    assert all(name in PARAMETERS for name, _ in params)
    assert ["stop", '"<|im_end|>"'] in params and dict(params)["temperature"] == "0.0"
