"""A knowledge base on PostgreSQL from the command line, side by side with one on LanceDB.

Both are built from the same twelve SQuAD paragraphs with the same embedder; the questions are
the real SQuAD questions about those paragraphs.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit, urlunsplit

import pytest
from tests.conftest import squad_paragraphs, squad_questions
from typer.testing import CliRunner

from ragtune.cli.main import app
from ragtune.config import load_settings
from ragtune.errors import ConfigError, KnowledgeBaseError
from ragtune.kb import KnowledgeBase
from ragtune.store import PostgresStore, public_url

runner = CliRunner()
SECRET = "s3cret-pw"


def cli(data_dir, *args):
    res = runner.invoke(app, ["--data-dir", str(data_dir), *args], catch_exceptions=True)
    assert res.exit_code == 0, f"{args}: {res.output} {res.exception!r}"
    return res


def ids(data_dir, kb, query, *extra):
    res = cli(data_dir, "search", query, "--kb", kb, "--json", *extra)
    return [h["chunk_id"] for h in json.loads(res.stdout)["hits"]]


def with_password(url: str) -> str:
    """``url`` with a password in its user part (the test server trusts local users, so any works)."""
    p = urlsplit(url)
    user, host = p.netloc.split("@", 1)
    return urlunsplit((p.scheme, f"{user.split(':')[0]}:{SECRET}@{host}", p.path, p.query, p.fragment))


@pytest.fixture
def questions(corpus_dir):
    return [q["question"] for q in squad_questions({r["id"] for r in squad_paragraphs(12)})][:8]


def test_a_postgres_kb_answers_like_a_lance_kb_and_keeps_no_password(tmp_path, corpus_dir, pg_url, questions):
    d = tmp_path / "data"
    url = with_password(pg_url)
    cli(d, "kb", "create", "pg", "--store", url)
    cli(d, "kb", "create", "ln")
    for kb in ("pg", "ln"):
        rep = json.loads(cli(d, "ingest", str(corpus_dir), "--kb", kb, "--json").stdout)
        assert len(rep["added"]) == 12 and rep["version"] == 1
    assert len(questions) >= 5
    for q in questions:
        assert ids(d, "pg", q, "--mode", "dense", "-n", "10") == ids(d, "ln", q, "--mode", "dense", "-n", "10"), q
        assert ids(d, "pg", q, "-n", "1") == ids(d, "ln", q, "-n", "1"), q  # hybrid: the same best passage
    # the password was used, and written nowhere under the data folder
    for f in d.rglob("*"):
        if f.is_file():
            assert SECRET.encode() not in f.read_bytes(), f
    meta = json.loads((d / "kbs" / "pg" / "kb.json").read_text())
    assert meta["store"] == "postgres" and meta["store_url"] == public_url(url) == pg_url.replace("postgres:@",
                                                                                                 "postgres@")
    listed = {i["name"]: i for i in json.loads(cli(d, "kb", "list", "--json").stdout)}
    assert listed["ln"]["store"] == "lance" and listed["ln"]["location"] == str(d / "kbs" / "ln")
    assert listed["pg"]["store"] == "postgres" and listed["pg"]["location"] == f"{pg_url.replace(':@', '@')} " \
                                                                              "(schema ragtune_pg)"
    assert listed["pg"]["chunks"] == listed["ln"]["chunks"] > 12 and listed["pg"]["size_bytes"] > 0
    assert "schema ragtune_pg" in cli(d, "kb", "info", "pg").stdout

    # every other command as on lance: delete makes a version, --as-of reads the one before
    gone = str(sorted(corpus_dir.iterdir())[0].resolve())
    cli(d, "delete", "--kb", "pg", "--source", gone)
    assert gone not in {h for h in _sources(d, "pg", "anything", "-n", "100")}
    assert gone in {h for h in _sources(d, "pg", "anything", "-n", "100", "--as-of", "1")}
    info = json.loads(cli(d, "kb", "info", "pg", "--json", "--versions").stdout)
    assert info["version"] == 2 and info["sources"] == 11 and len(info["versions_list"]) == 3
    rep = json.loads(cli(d, "ingest", str(corpus_dir), "--kb", "pg", "--sync", "--json").stdout)
    assert rep["added"] == [gone] and rep["unchanged"] == 11 and rep["version"] == 3
    res = runner.invoke(app, ["--data-dir", str(d), "search", "x", "--kb", "pg", "--where", "page = 1"])
    assert isinstance(res.exception, KnowledgeBaseError) and "takes no raw --where filter" in str(res.exception)

    # deleting the knowledge base drops its schema on the server
    cli(d, "kb", "delete", "pg", "--yes")
    import psycopg

    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'ragtune_pg'").fetchone()[0] == 0


def _sources(d, kb, query, *extra):
    res = cli(d, "search", query, "--kb", kb, "--json", *extra)
    return [h["source"] for h in json.loads(res.stdout)["hits"]]


def test_kb_copy_moves_a_kb_between_stores_with_the_same_top_10(tmp_path, corpus_dir, pg_url, questions):
    d = tmp_path / "data"
    cli(d, "kb", "create", "ln")
    cli(d, "ingest", str(corpus_dir), "--kb", "ln")
    cli(d, "kb", "create", "pg", "--store", pg_url)
    cli(d, "ingest", str(corpus_dir), "--kb", "pg")
    out = cli(d, "kb", "copy", "ln", "ln-on-pg", "--store", pg_url).stdout
    assert "copied ln version 1 to ln-on-pg" in out
    cli(d, "kb", "copy", "ln-on-pg", "back-on-lance", "--store", "lance")
    meta = {n: json.loads((d / "kbs" / n / "kb.json").read_text()) for n in ("ln", "ln-on-pg", "back-on-lance")}
    assert meta["ln-on-pg"]["embedder_fingerprint"] == meta["ln"]["embedder_fingerprint"]
    assert meta["ln-on-pg"]["copied_from"] == {"kb": "ln", "version": 1}
    assert (meta["ln-on-pg"]["store"], meta["back-on-lance"]["store"]) == ("postgres", "lance")
    for q in questions:
        lance_dense = ids(d, "ln", q, "--mode", "dense", "-n", "10")
        assert ids(d, "ln-on-pg", q, "--mode", "dense", "-n", "10") == lance_dense, q
        # full-text ranking is the store's own, so a copy ranks as a KB of its store built from the same files
        assert ids(d, "ln-on-pg", q, "-n", "10") == ids(d, "pg", q, "-n", "10"), q
        assert ids(d, "back-on-lance", q, "-n", "10") == ids(d, "ln", q, "-n", "10"), q
    res = runner.invoke(app, ["--data-dir", str(d), "kb", "copy", "ln", "pg"])
    assert isinstance(res.exception, KnowledgeBaseError) and "'pg' already exists" in str(res.exception)


def test_store_settings_pick_postgres_and_a_bad_url_is_one_line(tmp_path, pg_url):
    s = load_settings(env={"RAGTUNE_STORE__URL": pg_url}, data_dir=str(tmp_path / "data"))
    assert (s.store.backend, s.store.url) == ("postgres", pg_url)
    secret = load_settings(env={"RAGTUNE_STORE__URL": with_password(pg_url)})
    assert SECRET in secret.store.url and SECRET not in json.dumps(secret.dump())  # run logs, results.json
    kb = KnowledgeBase.create(s, "env")
    assert isinstance(kb.store, PostgresStore) and kb.info()["store"] == "postgres"
    assert kb.store.text_candidates == s.store.text_candidates == "auto" and kb.store.ef_search == s.store.ef_search
    exact = load_settings(env={"RAGTUNE_STORE__URL": pg_url}, data_dir=str(tmp_path / "data"),
                          overrides=["store.text_candidates=0"])
    assert KnowledgeBase.open(exact, "env").store.text_candidates == 0
    with pytest.raises(ConfigError, match=r"^store: backend 'postgres' needs the server's url"):
        load_settings(env={}, overrides=["store.backend=postgres"])
    with pytest.raises(ConfigError, match=r"^store: url must be a PostgreSQL URL"):
        load_settings(env={}, overrides=["store.url=mysql://u@h/db"])
    bad = load_settings(env={}, data_dir=str(tmp_path / "data"),
                        overrides=["store.url=postgresql://nobody@127.0.0.1:1/nothing"])
    with pytest.raises(KnowledgeBaseError, match=r"^cannot connect to postgresql://nobody@127\.0\.0\.1:1/nothing") as e:
        KnowledgeBase.create(bad, "unreachable")
    assert "\n" not in str(e.value) and not (tmp_path / "data" / "kbs" / "unreachable").exists()


def test_two_machines_share_a_kb_and_a_copy_never_overwrites_one(tmp_path, corpus_dir, pg_url):
    one, two = tmp_path / "machine1", tmp_path / "machine2"  # two data folders, one server
    cli(one, "kb", "create", "shared", "--store", pg_url)
    cli(one, "ingest", str(corpus_dir), "--kb", "shared")
    cli(two, "kb", "create", "shared", "--store", pg_url)  # the second machine attaches to it
    q = "Which NFL team represented the AFC at Super Bowl 50?"
    assert ids(two, "shared", q, "-n", "5") == ids(one, "shared", q, "-n", "5")
    assert json.loads(cli(two, "kb", "info", "shared", "--json").stdout)["version"] == 1
    three = tmp_path / "machine3"  # has a lance KB and copies it to the server under a name taken there
    cli(three, "kb", "create", "notes")
    cli(three, "ingest", str(sorted(corpus_dir.iterdir())[0]), "--kb", "notes")
    res = runner.invoke(app, ["--data-dir", str(three), "kb", "copy", "notes", "shared", "--store", pg_url])
    assert isinstance(res.exception, KnowledgeBaseError) and "already holds version 1" in str(res.exception)
    assert not (three / "kbs" / "shared").exists()
    assert json.loads(cli(one, "kb", "info", "shared", "--json").stdout)["chunks"] > 12  # untouched
    cli(three, "kb", "copy", "notes", "notes-on-pg", "--store", pg_url)
    assert json.loads(cli(three, "kb", "info", "notes-on-pg", "--json").stdout)["sources"] == 1
