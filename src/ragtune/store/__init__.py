"""Where chunks and their vectors live. ``Store`` is the protocol; LanceDB is the built-in backend."""

from ragtune.store.base import Store, StoreVersion
from ragtune.store.lance import LanceStore

__all__ = ["Store", "StoreVersion", "LanceStore"]
