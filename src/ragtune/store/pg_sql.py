"""The SQL of the PostgreSQL backend (``store/postgres.py``): its tables, its writers' lock and its BM25 query.

Plain strings with ``{schema}``-style placeholders, filled with quoted identifiers and literals
by ``psycopg.sql`` (never with user input, which is always a bound ``%s`` parameter).

Full text is scored with BM25 (k1 = 1.2, b = 0.75, the idf of Lucene/Tantivy, as LanceDB's
index does) rather than ``ts_rank``, which knows nothing of how rare a term is: on a corpus of
one topic ("Super Bowl 50" in every paragraph) that decides the ranking. The statistics BM25
needs are kept per version, as everything else: ``versions`` carries the version's number of
chunks and their total length, and ``terms`` the change in each term's document frequency that
a version made (df at version N = the sum of its changes up to N). A chunk's length is the
number of distinct lexemes of its ``tsvector`` (``length(tsv)``), the measure that costs nothing
to read; BM25 only uses it relative to the average, taken on the same measure.

Text is split into words at every punctuation character before PostgreSQL's parser sees it, as
LanceDB's tokenizer does: the parser would keep ``/docs/a.txt`` or ``x_y`` as one token.

A search reads the query's statistics first (``TEXT_STATS``), then scores only the chunks that
hold its rarest lexemes, and then, if MaxScore (``maxscore.py``) says chunks without them could
still reach the top k, those holding any lexeme that can (``SEARCH_TEXT``, once or twice).
"""

K1, B = 1.2, 0.75

# [:punct:] rather than "not [:alnum:]": under the C locale PostgreSQL's classes are ASCII only, and
# "not alphanumeric" would cut every accented or non-Latin letter out of the words.
WORDS = "to_tsvector({cfg}::regconfig, regexp_replace({col}, '[[:punct:]]+', ' ', 'g'))"

# The indexes searches use; a bulk load drops them and builds them again at commit (pg_write.py).
SEARCH_INDEXES = [
    "CREATE INDEX IF NOT EXISTS chunks_hnsw ON {chunks} USING hnsw (embedding vector_cosine_ops)",
    "CREATE INDEX IF NOT EXISTS chunks_tsv ON {chunks} USING gin (tsv)",
]
DROP_SEARCH_INDEXES = "DROP INDEX IF EXISTS {schema}.chunks_hnsw, {schema}.chunks_tsv"

# The transaction-level advisory lock of a knowledge base, (LOCK_CLASS, hashtext(schema)): a change-set
# takes it at its first write (pg_write.py), the first opening of a knowledge base to create its tables.
LOCK_CLASS = 0x5247  # "RG"
LOCK = "SELECT pg_advisory_xact_lock(%s, hashtext(%s))"

CREATE = [
    "CREATE SCHEMA IF NOT EXISTS {schema}",
    "CREATE TABLE IF NOT EXISTS {versions} (version int PRIMARY KEY, time float8 NOT NULL, "
    "added int NOT NULL DEFAULT 0, removed int NOT NULL DEFAULT 0, note text NOT NULL DEFAULT '', "
    "n_chunks bigint NOT NULL DEFAULT 0, total_len bigint NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS {chunks} (row_id bigserial PRIMARY KEY, chunk_id text NOT NULL, "
    "doc_id text NOT NULL, source text NOT NULL, title text NOT NULL DEFAULT '', text text NOT NULL, "
    "chunk_index int NOT NULL DEFAULT 0, page int, content_hash text NOT NULL DEFAULT '', "
    "metadata jsonb NOT NULL DEFAULT '{{}}', file_hash text NOT NULL DEFAULT '', ingested_at float8 NOT NULL, "
    "embedding vector({dim}) NOT NULL, tsv tsvector GENERATED ALWAYS AS (" + WORDS.replace("{col}", "text")
    + ") STORED, v_from int NOT NULL, v_to int)",
    "CREATE TABLE IF NOT EXISTS {terms} (term text NOT NULL, version int NOT NULL, ddf int NOT NULL, "
    "PRIMARY KEY (term, version))",
    *SEARCH_INDEXES,
    "CREATE INDEX IF NOT EXISTS chunks_source ON {chunks} (source)",
    "CREATE INDEX IF NOT EXISTS chunks_chunk_id ON {chunks} (chunk_id)",
    "CREATE INDEX IF NOT EXISTS chunks_v_from ON {chunks} (v_from)",
    "CREATE INDEX IF NOT EXISTS chunks_v_to ON {chunks} (v_to)",
    "INSERT INTO {versions} (version, time, note) VALUES (0, %s, 'created') ON CONFLICT DO NOTHING",
]

# The term statistics of change-set %s (three times): +1 per chunk it added, -1 per chunk it removed.
COMMIT_TERMS = (
    "INSERT INTO {terms} (term, version, ddf) SELECT lexeme, %s, sum(d) FROM ("
    "SELECT u.lexeme, 1 AS d FROM {chunks} c, unnest(c.tsv) u WHERE c.v_from = %s UNION ALL "
    "SELECT u.lexeme, -1 FROM {chunks} c, unnest(c.tsv) u WHERE c.v_to = %s) x GROUP BY lexeme HAVING sum(d) <> 0"
)

# Version %s with its counters, its chunk count and total length carried on from the version before.
COMMIT_VERSION = (
    "INSERT INTO {versions} (version, time, added, removed, note, n_chunks, total_len) "
    "SELECT %(v)s, %(time)s, %(added)s, %(removed)s, %(note)s, p.n_chunks + %(added)s - %(removed)s, "
    "p.total_len + (SELECT coalesce(sum(length(tsv)), 0) FROM {chunks} WHERE v_from = %(v)s) "
    "- (SELECT coalesce(sum(length(tsv)), 0) FROM {chunks} WHERE v_to = %(v)s) "
    "FROM {versions} p WHERE p.version = %(v)s - 1"
)

# What BM25 needs to know about a query at a version (parameters: the text, the version twice): the
# version's chunk count and average length, and each distinct lexeme of the query with its
# document frequency (no lexeme at all: one row with NULLs, for a query of stop words).
TEXT_STATS = (
    "WITH terms AS (SELECT DISTINCT lexeme FROM unnest(" + WORDS.replace("{col}", "%s") + ")), "
    "st AS (SELECT n_chunks::float8 AS n, greatest(total_len::float8 / greatest(n_chunks, 1), 1) AS avgdl "
    "FROM {versions} WHERE version = %s) "
    "SELECT st.n, st.avgdl, t.lexeme, (SELECT coalesce(sum(ddf), 0) FROM {terms} s "
    "WHERE s.term = t.lexeme AND s.version <= %s)::bigint FROM st LEFT JOIN terms t ON true"
)

# BM25 of the chunks that hold any lexeme of a tsquery (an OR of quoted lexemes, made by
# ``pg_text.py`` from the database's own lexemes), scored over all the query's lexemes. A chunk's
# term frequencies are read from its tsvector cut to the query's lexemes (setweight marks them,
# ts_filter keeps them): unnesting the whole tsvector cost 2.5x the time (bench_store.py, 100k).
# Parameters: the lexemes and their idf (two arrays), the average length, the lexemes again,
# the tsquery, then those of {cond} (the version's rows and the filters), then k.
SEARCH_TEXT = (
    "WITH w AS (SELECT * FROM unnest(%s::text[], %s::float8[]) AS w(lexeme, idf)), "
    "hits AS (SELECT c.row_id, sum(w.idf * u.tf * " + str(K1 + 1) + " / (u.tf + " + str(K1)
    + " * (1 - " + str(B) + " + " + str(B) + " * length(c.tsv) / %s::float8))) AS score "
    "FROM {chunks} c "
    "CROSS JOIN LATERAL (SELECT lexeme, coalesce(array_length(positions, 1), 1) AS tf "
    "FROM unnest(ts_filter(setweight(c.tsv, 'A', %s::text[]), '{{a}}'))) u "
    "JOIN w ON w.lexeme = u.lexeme "
    "WHERE c.tsv @@ %s::tsquery AND {cond} GROUP BY c.row_id ORDER BY score DESC, c.row_id LIMIT %s) "
    "SELECT {cols}, hits.score FROM hits JOIN {chunks} c USING (row_id) ORDER BY hits.score DESC, c.row_id"
)
