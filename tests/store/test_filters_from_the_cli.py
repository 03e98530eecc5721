"""Filters travel from the command line to the store as data; --where is LanceDB SQL, passed on as such."""

import json

from typer.testing import CliRunner

from ragtune.cli.main import app
from ragtune.errors import ConfigError, KnowledgeBaseError

runner = CliRunner()


def cli(data_dir, *args):
    return runner.invoke(app, ["--data-dir", str(data_dir), *args], catch_exceptions=True)


def test_filter_and_where_reach_the_store(tmp_path):
    d, docs = tmp_path / "data", tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("The lighthouse of Orrin was built in 1802.\n")
    (docs / "b.txt").write_text("The lighthouse of Kessa burned down in 1911.\n")
    assert cli(d, "kb", "create", "lights").exit_code == 0
    assert cli(d, "ingest", str(docs), "--kb", "lights").exit_code == 0
    b = str((docs / "b.txt").resolve())

    def sources(*extra):
        res = cli(d, "search", "lighthouse", "--kb", "lights", "--json", "-n", "5", *extra)
        assert res.exit_code == 0, res.output
        return [h["source"] for h in json.loads(res.stdout)["hits"]]

    assert len(sources()) == 2
    assert sources("--filter", f"source={b}") == [b]
    assert sources("--where", "text LIKE '%Kessa%'") == [b]
    assert sources("--filter", f"source={b}", "--where", "text LIKE '%Orrin%'") == []
    res = cli(d, "search", "lighthouse", "--kb", "lights", "--filter", "text=Kessa")
    assert isinstance(res.exception, KnowledgeBaseError) and "cannot filter on 'text'" in str(res.exception)
    res = cli(d, "search", "lighthouse", "--kb", "lights", "--mode", "dense", "--where", "text LIKE (")
    assert isinstance(res.exception, KnowledgeBaseError) and "is not valid LanceDB SQL" in str(res.exception)


def test_an_unknown_store_backend_is_refused_at_create(tmp_path):
    res = cli(tmp_path / "data", "--set", "store.backend=pgvector", "kb", "create", "x")
    assert isinstance(res.exception, ConfigError)
    assert str(res.exception) == ("store.backend: 'pgvector' is not a known store backend; "
                                  "use one of 'lance', 'postgres'")
