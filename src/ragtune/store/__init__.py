"""Where chunks and their vectors live. ``Store`` is the protocol; backends are found by name in
``STORES`` (``register_store``). Built in: LanceDB, the embedded default, as ``"lance"``, and
PostgreSQL + pgvector for shared servers, as ``"postgres"`` (its driver: the ``postgres`` extra)."""

from ragtune.store.base import FILTER_FIELDS, DocumentInfo, Filters, Store, StoreVersion, check_filters, check_where
from ragtune.store.copy import copy_version
from ragtune.store.lance import LanceStore
from ragtune.store.postgres import PostgresStore, public_url
from ragtune.store.registry import STORES, open_store, register_store, store_class, takes_url

__all__ = ["FILTER_FIELDS", "STORES", "DocumentInfo", "Filters", "LanceStore", "PostgresStore", "Store",
           "StoreVersion", "check_filters", "check_where", "copy_version", "open_store", "public_url", "register_store",
           "store_class", "takes_url"]
