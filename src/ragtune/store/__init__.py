"""Where chunks and their vectors live. ``Store`` is the protocol; backends are found by name in
``STORES`` (``register_store``); LanceDB is the built-in backend, registered as ``"lance"``."""

from ragtune.store.base import FILTER_FIELDS, DocumentInfo, Filters, Store, StoreVersion, check_filters, check_where
from ragtune.store.lance import LanceStore
from ragtune.store.registry import STORES, open_store, register_store, store_class

__all__ = ["FILTER_FIELDS", "STORES", "DocumentInfo", "Filters", "LanceStore", "Store", "StoreVersion",
           "check_filters", "check_where", "open_store", "register_store", "store_class"]
