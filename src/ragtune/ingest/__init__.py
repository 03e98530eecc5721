"""Ingest: files to documents (loaders), documents to chunks (chunker)."""

from ragtune.ingest.chunker import chunk_document, split_sentences, token_counter
from ragtune.ingest.loaders import file_hash, iter_files, load_file

__all__ = ["chunk_document", "file_hash", "iter_files", "load_file", "split_sentences", "token_counter"]
