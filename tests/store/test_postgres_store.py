"""What only the PostgreSQL backend has: its URL handling, its schema per knowledge base, the HNSW
index under version and metadata filters, and one-line errors for a server that changed under it."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest

from ragtune.errors import KnowledgeBaseError
from ragtune.store import PostgresStore, open_store, public_url
from ragtune.store.postgres import schema_name
from ragtune.types import Chunk

DIM = 16


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://app:s3cret@db.internal:5432/rag", "postgresql://app@db.internal:5432/rag"),
    ("postgresql://app@db:5432/rag?sslmode=require&password=s3cret", "postgresql://app@db:5432/rag?sslmode=require"),
    ("postgres://postgres:@/rag?host=/tmp/sock", "postgres://postgres@/rag?host=/tmp/sock"),
    ("postgresql://db/rag", "postgresql://db/rag"),
])
def test_the_url_is_shown_and_kept_without_its_password(url, shown):
    assert public_url(url) == shown


def test_each_knowledge_base_is_a_schema_and_long_names_stay_distinct():
    assert schema_name("support") == "ragtune_support"
    long_a, long_b = "a" * 60 + "x", "a" * 60 + "y"
    assert schema_name(long_a) != schema_name(long_b) and len(schema_name(long_a)) <= 63


def test_a_bad_url_or_none_is_one_line(tmp_path):
    with pytest.raises(KnowledgeBaseError, match=r"^the postgres store needs a server URL"):
        PostgresStore(tmp_path / "kb", DIM)
    with pytest.raises(KnowledgeBaseError, match=r"^store URL 'mysql://u@h/db' is not a PostgreSQL URL"):
        PostgresStore(tmp_path / "kb", DIM, url="mysql://u:pw@h/db")


def _fill(st, n, seed=0, source_of=lambda i: f"/s{i % 10}.txt"):
    vecs = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    chunks = [Chunk(f"c{i}", f"d{i}", source_of(i), f"chunk number {i}", index=i, page=i % 7) for i in range(n)]
    st.add(chunks, vecs, {})
    st.commit()
    return vecs


def test_hnsw_search_with_version_and_metadata_filters_still_fills_k(tmp_path, pg_url):
    # ef_search 100: at 3,000 rows the planner prices the default 800 above a plain scan and sorts instead
    st = open_store("postgres", tmp_path / "kb", DIM, pg_url, ef_search=100)
    vecs = _fill(st, 3000)
    st.delete_sources(["/s0.txt", "/s1.txt"])  # version 2: 600 rows marked removed
    st.commit()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("ANALYZE ragtune_kb.chunks")
    q = vecs[5]
    with st._read() as cur:  # the plan the store's own connections use: the HNSW index
        cur.execute("EXPLAIN SELECT chunk_id FROM ragtune_kb.chunks WHERE v_from <= 2 AND (v_to IS NULL OR v_to > 2)"
                    " ORDER BY embedding <=> %s LIMIT 30", [q])
        assert "chunks_hnsw" in " ".join(r[0] for r in cur.fetchall())
    exact = np.argsort(-(vecs @ q), kind="stable")
    for version, keep in ((1, lambda i: True), (2, lambda i: i % 10 >= 2)):
        want = [f"c{i}" for i in exact if keep(i)][:30]
        got = [c.chunk_id for c, _ in st.search_dense(q, 30, version=version)]
        assert len(got) == 30 and len(set(got) & set(want)) >= 28, version  # recall@30 of the index
    only = st.search_dense(q, 30, {"source": "/s3.txt", "page": [1, 2]}, version=2)
    want = [f"c{i}" for i in exact if i % 10 == 3 and i % 7 in (1, 2)][:30]
    assert len(only) == 30 and {c.source for c, _ in only} == {"/s3.txt"} and len({c.chunk_id for c, _ in only}
                                                                                    & set(want)) >= 28
    st.close()


def test_a_filter_value_is_data_never_sql(tmp_path, pg_url):
    st = open_store("postgres", tmp_path / "kb", DIM, pg_url)
    _fill(st, 20)
    evil = "x' OR '1'='1'); DROP TABLE ragtune_kb.chunks; --"
    assert st.search_dense(np.ones(DIM, np.float32), 5, {"source": evil}) == []
    assert st.search_text(evil, 5, {"title": evil}) == [] and st.search_text("chunk 'number' | !(3)", 3)
    assert st.count() == 20
    st.close()


def test_a_changed_server_is_one_line(tmp_path, pg_url):
    st = open_store("postgres", tmp_path / "kb", DIM, pg_url)
    _fill(st, 5)
    with pytest.raises(KnowledgeBaseError, match=r"holds 16-wide vectors, not 8; .*another embedder"):
        open_store("postgres", tmp_path / "kb", 8, pg_url)
    other = open_store("postgres", tmp_path / "kb", DIM, pg_url)
    other.drop()
    with pytest.raises(KnowledgeBaseError, match=r"^schema ragtune_kb is gone from .*create it again$"):
        st.count()
    st.close()


def test_full_text_splits_paths_and_keeps_accented_and_non_latin_words(tmp_path, pg_url):
    st = open_store("postgres", tmp_path / "kb", DIM, pg_url)
    texts = ["see /docs/setup_guide.txt for the café crème", "Zürich liegt am See", "東京 is Tokyo", "plain words"]
    st.add([Chunk(f"c{i}", f"d{i}", "/a.txt", t, index=i) for i, t in enumerate(texts)],
           np.eye(DIM, dtype=np.float32)[:4], {})
    st.commit()
    for query, want in (("setup guide", "c0"), ("café", "c0"), ("Zürich", "c1"), ("東京", "c2")):
        assert [c.chunk_id for c, _ in st.search_text(query, 3)] == [want], query
    st.close()


def test_full_text_prunes_with_maxscore_yet_returns_the_exact_top_k(tmp_path, pg_url, monkeypatch):
    """Scoring only the chunks MaxScore cannot rule out gives what scoring every matching chunk gives."""
    from tests.conftest import squad_paragraphs, squad_questions

    rows = squad_paragraphs()
    from ragtune.store import postgres

    st = open_store("postgres", tmp_path / "kb", DIM, pg_url)
    vecs = np.random.default_rng(0).normal(size=(len(rows), DIM)).astype(np.float32)
    st.add([Chunk(r["id"], r["id"], f"/{r['title']}.txt", r["text"], index=i) for i, r in enumerate(rows)],
           vecs / np.linalg.norm(vecs, axis=1, keepdims=True), {})
    st.commit()
    questions = [q["question"] for q in squad_questions({r["id"] for r in rows})][:40]
    st.text_candidates = 10**12  # a budget that takes every lexeme in one pass: no pruning
    full = [st.search_text(q, 5) for q in questions]
    st.text_candidates = 0  # exact, through MaxScore
    passes, score = [], st._score_text

    def counted(lexemes, idfs, avgdl, match, *rest):
        passes.append((len(lexemes), len(match)))
        return score(lexemes, idfs, avgdl, match, *rest)

    monkeypatch.setattr(postgres, "TEXT_FIRST_PASS", 1)  # the rarest lexeme first, then what MaxScore keeps
    monkeypatch.setattr(st, "_score_text", counted)
    pruned = [st.search_text(q, 5) for q in questions]
    assert [[(c.chunk_id, round(s, 9)) for c, s in hits] for hits in pruned] == \
        [[(c.chunk_id, round(s, 9)) for c, s in hits] for hits in full]
    assert sum(len(hits) == 5 for hits in full) > 30  # full lists, so the k-th score matters
    # it did prune: on 99 paragraphs the rarest lexeme's chunks set a low k-th score, yet some second
    # passes left lexemes out (most of them do at 100k chunks: benchmarks/bench_store.py)
    assert sum(1 < m < n for n, m in passes) >= 5
    st.close()


def test_a_full_text_budget_scores_the_rarest_words_chunks_and_is_exact_when_they_suffice(tmp_path, pg_url,
                                                                                         monkeypatch):
    from tests.conftest import squad_paragraphs, squad_questions

    rows = squad_paragraphs()
    st = open_store("postgres", tmp_path / "kb", DIM, pg_url, text_candidates=6)
    assert st.text_candidates == 6  # [store] text_candidates reaches the store
    vecs = np.random.default_rng(0).normal(size=(len(rows), DIM)).astype(np.float32)
    st.add([Chunk(r["id"], r["id"], f"/{r['title']}.txt", r["text"], index=i) for i, r in enumerate(rows)],
           vecs / np.linalg.norm(vecs, axis=1, keepdims=True), {})
    st.commit()
    text_of = {r["id"]: r["text"].lower() for r in rows}
    exact_store = open_store("postgres", tmp_path / "kb", DIM, pg_url)  # text_candidates 0: exact
    qs = [q["question"] for q in squad_questions(set(text_of))][:30]
    differed = 0
    for q in qs:
        got, exact = st.search_text(q, 5), exact_store.search_text(q, 5)
        exact_all = dict((c.chunk_id, s) for c, s in exact_store.search_text(q, 200))
        # every chunk returned carries its exact BM25 score, and the best of them leads as in the exact list
        assert all(abs(s - exact_all[c.chunk_id]) < 1e-9 for c, s in got), q
        assert [s for _, s in got] == sorted((s for _, s in got), reverse=True)
        differed += [c.chunk_id for c, _ in got] != [c.chunk_id for c, _ in exact]
    assert 0 < differed < 30  # the budget changed some answers, not all
    wide = open_store("postgres", tmp_path / "kb", DIM, pg_url, text_candidates=10**6)  # covers every match
    for q in ("Which NFL team represented the AFC at Super Bowl 50?", "Who was the Super Bowl 50 MVP?"):
        assert wide.search_text(q, 10) == exact_store.search_text(q, 10)
    # "auto" (the default) takes its budget from the version's size: the large-table budget from LARGE chunks on
    from ragtune.store import pg_text

    auto = open_store("postgres", tmp_path / "kb", DIM, pg_url, text_candidates="auto")
    monkeypatch.setattr(pg_text, "AUTO_SMALL", 10**6)
    monkeypatch.setattr(pg_text, "AUTO_LARGE", 6)
    monkeypatch.setattr(pg_text, "LARGE", len(rows) + 1)  # a small table: the small-table budget (here: every match)
    assert [auto.search_text(q, 5) for q in qs] == [wide.search_text(q, 5) for q in qs]
    monkeypatch.setattr(pg_text, "LARGE", len(rows))  # as large as LARGE: the large-table budget (here: 6)
    assert [auto.search_text(q, 5) for q in qs] == [st.search_text(q, 5) for q in qs]
    for x in (st, exact_store, wide, auto):
        x.close()


def _indexes(url: str, schema: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = %s", [schema])}


def test_a_bulk_load_builds_its_indexes_at_commit_and_a_failed_one_keeps_them(tmp_path, pg_url):
    st = open_store("postgres", tmp_path / "kb", DIM, pg_url)
    st.bulk_rows = 100
    vecs = _fill(st, 40)  # small: written through the indexes
    assert {"chunks_hnsw", "chunks_tsv"} <= _indexes(pg_url, st.schema)
    more = np.random.default_rng(1).normal(size=(300, DIM)).astype(np.float32)
    more /= np.linalg.norm(more, axis=1, keepdims=True)
    st.add([Chunk(f"b{i}", f"b{i}", "/bulk.txt", f"bulk row {i} about rivers", index=i) for i in range(300)], more, {})
    assert st._bulk  # 300 rows, more than the 40 there: the indexes went, for this change-set only
    st.rollback()
    assert {"chunks_hnsw", "chunks_tsv"} <= _indexes(pg_url, st.schema) and st.count() == 40
    st.add([Chunk(f"b{i}", f"b{i}", "/bulk.txt", f"bulk row {i} about rivers", index=i) for i in range(300)], more, {})
    st.commit()
    assert {"chunks_hnsw", "chunks_tsv"} <= _indexes(pg_url, st.schema) and st.count() == 340
    every = np.concatenate([vecs, more])
    ids = [f"c{i}" for i in range(40)] + [f"b{i}" for i in range(300)]
    for q in every[::17]:
        assert [c.chunk_id for c, _ in st.search_dense(q, 10)] == [ids[i] for i in np.argsort(-(every @ q))[:10]]
    assert {c.chunk_id for c, _ in st.search_text("rivers", 5)} <= {f"b{i}" for i in range(300)}
    with psycopg.connect(pg_url) as conn:  # the rebuilt HNSW index serves the ORDER BY
        conn.execute(f"SET search_path = {st.schema}, public")
        conn.execute("SET enable_seqscan = off")
        plan = " ".join(r[0] for r in conn.execute(
            "EXPLAIN SELECT chunk_id FROM chunks ORDER BY embedding <=> %s::vector LIMIT 5", [str(every[0].tolist())]))
        assert "chunks_hnsw" in plan
    st.close()


def test_ef_search_is_the_connections_hnsw_candidate_list(tmp_path, pg_url):
    st = open_store("postgres", tmp_path / "kb", DIM, pg_url, ef_search=123)
    _fill(st, 20)
    with st._read() as cur:
        assert cur.execute("SHOW hnsw.ef_search").fetchone()[0] == "123"
    assert len(st.search_dense(np.eye(DIM, dtype=np.float32)[0], 5)) == 5
    st.close()
