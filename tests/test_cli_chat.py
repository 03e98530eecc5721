"""``ragtune ask --conversation FILE`` and ``ragtune ask --chat`` with the bundled model: the earlier turns
reach the model, and a RAG follow-up is searched with the same standalone rewrite as the server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragtune.cli.main import app
from ragtune.errors import ConfigError
from ragtune.generate.conversation import ConversationError

runner = CliRunner()
NAME = "Zorbalina"
INTRO = [{"role": "user", "content": f"My name is {NAME}."},
         {"role": "assistant", "content": f"Nice to meet you, {NAME}!"}]


def cli(data_dir: Path, *args: str, stdin: str | None = None):
    res = runner.invoke(app, ["--data-dir", str(data_dir), *args], input=stdin)
    assert res.exit_code == 0, (args, res.output, res.exception)
    return res


def write(path: Path, data) -> Path:
    path.write_text(json.dumps(data))
    return path


@pytest.mark.slow
def test_conversation_file_answers_the_last_turn_with_the_earlier_ones(tmp_path):
    conv = write(tmp_path / "conv.json", [*INTRO, {"role": "user", "content": "What is my name?"}])
    out = cli(tmp_path / "data", "ask", "--mode", "base", "--max-tokens", "16", "--conversation", str(conv))
    assert NAME in out.stdout
    res = json.loads(cli(tmp_path / "data", "ask", "--mode", "base", "--max-tokens", "16", "--json",
                         "--conversation", str(conv)).stdout)
    assert NAME in res["answer"] and f"My name is {NAME}." in res["prompt"] and res["question"] == "What is my name?"
    alone = json.loads(cli(tmp_path / "data", "ask", "--mode", "base", "--max-tokens", "16", "--json",
                           "What is my name?").stdout)
    assert NAME not in alone["answer"]  # without the earlier turns the model cannot know


@pytest.mark.slow
def test_conversation_file_rag_follow_up_is_searched_with_the_rewrite(tmp_path, corpus_dir):
    d = tmp_path / "data"
    cli(d, "kb", "create", "docs")
    cli(d, "ingest", str(corpus_dir), "--kb", "docs", "--json")
    follow_up = "What stadium did it take place in?"
    conv = write(tmp_path / "conv.json", {"messages": [  # an OpenAI request body works too
        {"role": "user", "content": "Tell me about Super Bowl 50."},
        {"role": "assistant", "content": "It was an American football game."},
        {"role": "user", "content": follow_up}]})
    res = json.loads(cli(d, "ask", "--kb", "docs", "--max-tokens", "16", "--json", "--conversation", str(conv)).stdout)
    assert res["search_query"] != follow_up and "Super Bowl 50" in res["search_query"]
    assert res["question"] == follow_up and "It was an American football game." in res["prompt"]
    shown = cli(d, "ask", "--kb", "docs", "--max-tokens", "8", "--no-stream", "--conversation", str(conv)).stdout
    assert f"searched for: {res['search_query']}" in shown
    plain = json.loads(cli(d, "--set", "serve.query_rewrite=none", "ask", "--kb", "docs", "--max-tokens", "8",
                           "--json", "--conversation", str(conv)).stdout)
    assert plain["search_query"] == follow_up


@pytest.mark.slow
def test_chat_reads_turns_from_stdin_and_keeps_the_conversation(tmp_path):
    stdin = f"My name is {NAME}.\n\nWhat is my name?\n/new\nWhat is my name?\n"
    out = cli(tmp_path / "data", "ask", "--mode", "base", "--chat", "--max-tokens", "16", "--json", stdin=stdin)
    turns = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    assert [t["turn"] for t in turns] == [1, 2, 1]  # the empty line is skipped; /new starts again
    first, second, fresh = turns
    assert f"My name is {NAME}." in second["prompt"] and first["answer"] in second["prompt"]
    assert NAME in second["answer"]
    assert NAME not in fresh["prompt"] and NAME not in fresh["answer"]
    # without --json the answers stream one after the other; /exit ends the session early
    out = cli(tmp_path / "data", "ask", "--mode", "base", "--chat", "--max-tokens", "8", "--no-stream",
              stdin="Say hi.\n/exit\nThis turn is never read.\n")
    assert out.stdout.count("base · smollm2-135m-instruct") == 1


def test_conversation_and_chat_arguments_are_checked(tmp_path):
    d = tmp_path / "data"
    conv = write(tmp_path / "conv.json", [{"role": "user", "content": "hi"}])
    for args in (["--chat", "--conversation", str(conv)], ["hello", "--conversation", str(conv)], []):
        res = runner.invoke(app, ["--data-dir", str(d), "ask", "--mode", "base", *args])
        assert res.exit_code == 2, (args, res.output)
    for data, error, text in (([{"role": "assistant", "content": "hi"}], ConversationError, "last message"),
                              ({"role": "user"}, ConfigError, "expected a JSON list"),
                              (["hi"], ConversationError, "messages[0] must be an object")):
        res = runner.invoke(app, ["--data-dir", str(d), "ask", "--mode", "base", "--conversation",
                                  str(write(tmp_path / "bad.json", data))])
        assert isinstance(res.exception, error) and text in str(res.exception), (data, res.output)
    (tmp_path / "broken.json").write_text("[{")
    res = runner.invoke(app, ["--data-dir", str(d), "ask", "--conversation", str(tmp_path / "broken.json")])
    assert isinstance(res.exception, ConfigError) and "not a JSON file" in str(res.exception)
