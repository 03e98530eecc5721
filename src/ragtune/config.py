"""One validated settings object, loaded from ``ragtune.toml`` + environment + CLI flags.

Precedence, lowest to highest: defaults, the TOML file, ``RAGTUNE_SECTION__FIELD``
environment variables, then ``--set section.field=value`` flags. A bad value fails at load
with the field name and what is allowed::

    >>> load_settings(overrides=["retrieval.mode=fuzzy"])
    Traceback (most recent call last):
    ConfigError: retrieval.mode: 'fuzzy' is not allowed; use one of 'dense', 'bm25', 'hybrid'
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer, field_validator, model_validator

from ragtune.errors import ConfigError

CONFIG_FILE = "ragtune.toml"
ENV_PREFIX = "RAGTUNE_"

DEFAULT_SYSTEM_PROMPT = (
    "You answer questions using only the numbered context passages. "
    "Answer with the few words from the context that answer the question, then cite the passage "
    "like [1]. If the context does not contain the answer, say: I don't know."
)
DEFAULT_RAG_TEMPLATE = "Context:\n{context}\n\nQuestion: {question}"
DEFAULT_CONTEXT_ITEM = "[{n}] {text}"
DEFAULT_BASE_SYSTEM_PROMPT = "Answer the question in a few words."
DEFAULT_BASE_TEMPLATE = "Question: {question}"
DEFAULT_CLASSIFY_SYSTEM = (
    "Classify the sentiment of the customer's message. Answer with exactly one word: {labels}."
)
DEFAULT_CLASSIFY_TEMPLATE = "Message: {text}"
DEFAULT_NO_ANSWER = "I don't know: nothing in the knowledge base is relevant enough to answer that."


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelEntry(_Section):
    """A named model in ``[models.registry.NAME]``: a local path or an HTTP endpoint."""

    kind: Literal["gguf", "hf", "http", "sentence-transformers", "cross-encoder"]
    path: str | None = None
    base_url: str | None = None
    model: str | None = None
    api_key_env: str | None = None

    @model_validator(mode="after")
    def _check(self) -> ModelEntry:
        if self.kind == "http" and not (self.base_url and self.model):
            raise ValueError("an http model needs base_url and model")
        if self.kind != "http" and not self.path:
            raise ValueError(f"a {self.kind} model needs path")
        return self


class ModelsSettings(_Section):
    generator: str = "smollm2-135m-instruct"
    embedder: str = "minilm-l6"
    reranker: str | None = None
    registry: dict[str, ModelEntry] = Field(default_factory=dict)


class EmbeddingSettings(_Section):
    """How the embedder runs: a name in ``ragtune.embedding.BACKENDS`` (torch, torch-bf16, onnx, onnx-int8)
    or ``auto``, the fastest that keeps retrieval quality (checked against the table when first used).
    A knowledge base remembers the backend it was built with and refuses one whose vectors disagree."""

    backend: str = Field("auto", min_length=1)


class ChunkingSettings(_Section):
    max_tokens: int = Field(200, ge=16, le=8192)
    overlap_tokens: int = Field(32, ge=0)

    @model_validator(mode="after")
    def _overlap(self) -> ChunkingSettings:
        if self.overlap_tokens >= self.max_tokens:
            raise ValueError("chunking.overlap_tokens must be smaller than chunking.max_tokens")
        return self


class IngestSettings(_Section):
    max_file_mb: float = Field(50.0, gt=0)
    json_text_field: str = "text"
    json_title_field: str = "title"
    json_id_field: str = "id"
    csv_text_column: str = "text"
    json_max_depth: int = Field(200, ge=1, le=800)  # nesting of [ and {; deeper files are skipped
    csv_max_field_mb: float = Field(1.0, gt=0)  # one CSV value; a longer one skips the file
    json_max_mb: float = Field(20.0, gt=0)  # one .json file or one .jsonl line; a larger one skips the file
    html_max_depth: int = Field(1000, ge=1)  # nesting of HTML elements; a deeper page is skipped
    pdf_max_pages: int = Field(5000, ge=1)  # pages of one PDF (counted before any is read); more skips it
    follow_symlinks_outside: bool = False  # follow links whose target lies outside the folder
    batch_size: int = Field(64, ge=1)
    extensions: list[str] = Field(
        default_factory=lambda: [".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".json", ".jsonl", ".csv"]
    )


def public_url(url: str) -> str:
    """A database URL without its password (in the user part or a ``password=`` parameter)::

        >>> public_url("postgresql://app:s3cret@db:5432/rag?sslmode=require&password=x")
        'postgresql://app@db:5432/rag?sslmode=require'
    """
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        user, host = netloc.rsplit("@", 1)
        netloc = f"{user.split(':', 1)[0]}@{host}"
    query = "&".join(p for p in parts.query.split("&") if p and not p.startswith("password="))
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class StoreSettings(_Section):
    """Where new knowledge bases keep their chunks: a name in ``ragtune.store.STORES``.

    Checked against that table when a knowledge base is created (third-party backends register
    at import, after settings load); an existing knowledge base keeps the backend it was made with.
    ``url`` is the server of a server-backed backend, e.g. ``postgresql://USER@HOST:PORT/DB`` for
    ``postgres`` (given alone, it selects ``postgres``); a password in it is used, never stored or
    shown: every dump of the settings has the URL without it.
    """

    backend: str = Field("lance", min_length=1)
    url: str | None = None
    # lance: chunks from which a commit builds a vector index (IVF_PQ) and searches use it instead of
    # the exact in-memory product; 0 never indexes (benchmarks/bench_store.py measured the default)
    index_threshold: int = Field(200_000, ge=0)
    # lance, below index_threshold: the exact scan's first pass. int8 scores an int8 copy of the vectors
    # (onnxruntime, the `onnx` extra) and rescores the best candidates in float32; auto = int8 from
    # 20,000 chunks when onnxruntime is installed (benchmarks/RESULTS.md, "RAG: search latency")
    dense_scan: Literal["auto", "int8", "float32"] = "auto"
    # postgres: most chunks a full-text search scores, those holding the query's rarest words (exact
    # whenever MaxScore proves nothing else can rank; benchmarks/bench_store.py); 0: exact BM25 always;
    # auto: 2000, and 1000 from 750,000 chunks in the version (store/pg_text.py says why)
    text_candidates: int | Literal["auto"] = "auto"

    @field_validator("text_candidates")
    @classmethod
    def _candidates(cls, v: int | str) -> int | str:
        if isinstance(v, int) and v < 0:
            raise ValueError("store.text_candidates must be 0 (exact BM25), a number of chunks, or auto")
        return v
    # postgres: HNSW candidate list per dense search (pgvector's hnsw.ef_search); recall against speed,
    # measured at 1M chunks in store/postgres.py (800: recall@10 0.971 of exact at 1M; 400: 0.921)
    ef_search: int = Field(800, ge=1, le=1000)

    @field_serializer("url")
    def _no_password(self, url: str | None) -> str | None:
        """Dumps (``ragtune config``, run logs, results.json) show the URL without its password."""
        return public_url(url) if url else url

    @model_validator(mode="before")
    @classmethod
    def _url_picks_postgres(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("url") and "backend" not in data:
            return {**data, "backend": "postgres"}
        return data

    @model_validator(mode="after")
    def _url_for_postgres(self) -> StoreSettings:
        if self.backend == "postgres" and not self.url:
            raise ValueError("backend 'postgres' needs the server's url, e.g. url = 'postgresql://USER@HOST:PORT/DB'")
        if self.url and not self.url.startswith(("postgresql://", "postgres://")):
            raise ValueError("url must be a PostgreSQL URL like postgresql://USER@HOST:PORT/DB")
        return self


class RetrievalSettings(_Section):
    mode: Literal["dense", "bm25", "hybrid"] = "hybrid"
    top_k: int = Field(3, ge=1, le=1000)
    candidates: int = Field(30, ge=1, le=10000)
    rrf_k: int = Field(60, ge=1)
    dense_weight: float = Field(1.0, ge=0)
    bm25_weight: float = Field(1.0, ge=0)
    min_similarity: float = Field(0.2, ge=-1, le=1)
    rerank: bool = False


class GenerationSettings(_Section):
    engine: str = Field("auto", min_length=1)  # "auto" or a name in the engine table (ragtune.generate.ENGINES)
    max_tokens: int = Field(96, ge=1, le=32768)
    temperature: float = Field(0.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    seed: int = 0
    n_ctx: int = Field(2048, ge=128)
    threads: int = Field(0, ge=0)


class PromptSettings(_Section):
    system: str = DEFAULT_SYSTEM_PROMPT
    rag_template: str = DEFAULT_RAG_TEMPLATE
    context_item: str = DEFAULT_CONTEXT_ITEM
    base_system: str = DEFAULT_BASE_SYSTEM_PROMPT
    base_template: str = DEFAULT_BASE_TEMPLATE
    no_answer: str = DEFAULT_NO_ANSWER
    classify_system: str = DEFAULT_CLASSIFY_SYSTEM
    classify_template: str = DEFAULT_CLASSIFY_TEMPLATE

    @field_validator("rag_template")
    @classmethod
    def _rag_fields(cls, v: str) -> str:
        for key in ("{context}", "{question}"):
            if key not in v:
                raise ValueError(f"must contain {key}")
        return v

    @field_validator("base_template")
    @classmethod
    def _base_fields(cls, v: str) -> str:
        if "{question}" not in v:
            raise ValueError("must contain {question}")
        return v


class CitationSettings(_Section):
    """How answers are tied to their passages after generation (generate/citations.py)."""

    attribute: bool = True  # align answer sentences with passages; off: only check model-written [n]
    min_overlap: float = Field(0.5, ge=0, le=1)  # share of a sentence's content words in the span
    use_embedder: bool = True  # also accept weaker overlap when the embedder finds the span similar
    similarity_overlap: float = Field(0.25, ge=0, le=1)  # the weaker overlap that similarity can rescue
    min_similarity: float = Field(0.6, ge=-1, le=1)  # embedder cosine of sentence and span


class ReaderSettings(_Section):
    """How the answer is drawn from the retrieved passages (generate/reader.py)."""

    method: Literal["plain", "focus"] = "plain"  # focus: better on 200 unseen SQuAD questions, worse on Super Bowl 50
    focus_sentences: int = Field(1, ge=1, le=50)  # sentences kept in the prompt (1 measured best, tune split)
    clean: bool = True  # drop leaked context lines and preambles ("The answer is") from answers
    similarity_weight: float = Field(0.0, ge=0)  # embedder cosine beside BM25 in sentence choice (0: tune split tie)
    # auto: the shipped reader LoRA when the generator is the bundled model on llama.cpp; none; or a GGUF file
    adapter: str = Field("auto", min_length=1)


class ServeSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    api_keys: list[str] = Field(default_factory=list)
    read_only_keys: list[str] = Field(default_factory=list)
    max_request_mb: float = Field(1.0, gt=0)
    max_upload_mb: float = Field(20.0, gt=0)
    rate_limit_per_minute: int = Field(120, ge=0)
    cors_origins: list[str] = Field(default_factory=list)
    trusted_proxies: list[str] = Field(default_factory=list)  # peers whose X-Forwarded-For is believed
    query_rewrite: Literal["generate", "none"] = "generate"  # RAG follow-ups: standalone question first
    # llama.cpp contexts, so this many answers decode at once (threads shared between them); 1: one at a time
    parallel: int = Field(1, ge=1, le=32)

    @field_validator("api_keys", "read_only_keys", "cors_origins", "trusted_proxies", mode="before")
    @classmethod
    def _comma_list(cls, v: Any) -> Any:
        """``RAGTUNE_SERVE__API_KEYS=sk-a,sk-b`` works as well as a TOML list."""
        return [p.strip() for p in v.split(",") if p.strip()] if isinstance(v, str) else v


class Settings(_Section):
    data_dir: Path = Path(".ragtune")
    models: ModelsSettings = Field(default_factory=ModelsSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    chunking: ChunkingSettings = Field(default_factory=ChunkingSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    prompts: PromptSettings = Field(default_factory=PromptSettings)
    citations: CitationSettings = Field(default_factory=CitationSettings)
    reader: ReaderSettings = Field(default_factory=ReaderSettings)
    serve: ServeSettings = Field(default_factory=ServeSettings)

    def dump(self) -> dict[str, Any]:
        return json.loads(self.model_dump_json())


def _set_path(tree: dict[str, Any], dotted: str, value: Any, origin: str) -> None:
    parts = [p for p in dotted.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"{origin}: empty setting name; use section.field=value, e.g. retrieval.top_k=5")
    node = tree
    for p in parts[:-1]:
        nxt = node.setdefault(p, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"{origin}: '{p}' is a value, not a section")
        node = nxt
    node[parts[-1]] = value


def _parse_value(raw: str) -> Any:
    """Values from the environment and flags are TOML/JSON literals when they parse, else strings."""
    raw = raw.strip()
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _format_error(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "settings"
    kind = first["type"]
    given = first.get("input")
    if kind == "literal_error":
        allowed = first.get("ctx", {}).get("expected", "")
        return f"{loc}: {given!r} is not allowed; use one of {allowed}"
    if kind == "extra_forbidden":
        return f"{loc}: unknown setting; check the spelling against the configuration reference in the README"
    msg = first["msg"].removeprefix("Value error, ")
    return f"{loc}: {msg} (got {given!r})" if not isinstance(given, dict) else f"{loc}: {msg}"


def load_settings(
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    env: dict[str, str] | None = None,
    **fields: Any,
) -> Settings:
    """Build the settings from a file (default ``./ragtune.toml`` if it exists), env and overrides."""
    env = dict(os.environ if env is None else env)
    tree: dict[str, Any] = {}
    cfg_path = Path(path) if path else Path(env.get("RAGTUNE_CONFIG", CONFIG_FILE))
    if path and not cfg_path.exists():
        raise ConfigError(f"config file {cfg_path} does not exist; create it or drop --config")
    if cfg_path.exists():
        try:
            tree = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{cfg_path}: not valid TOML ({e}); fix the file or remove it") from e
    for key, val in sorted(env.items()):
        if key.startswith(ENV_PREFIX) and key != "RAGTUNE_CONFIG" and "__" in key or key == "RAGTUNE_DATA_DIR":
            dotted = key[len(ENV_PREFIX):].lower().replace("__", ".")
            _set_path(tree, dotted, _parse_value(val), f"environment variable {key}")
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected section.field=value, e.g. retrieval.top_k=5")
        k, v = item.split("=", 1)
        _set_path(tree, k, _parse_value(v), f"--set {item}")
    for k, v in fields.items():
        if v is not None:
            _set_path(tree, k.replace("__", "."), v, f"argument {k}")
    try:
        return Settings.model_validate(tree)
    except ValidationError as e:
        raise ConfigError(_format_error(e)) from None
