"""A store folder: SQLite as the source of truth, FAISS as a rebuildable index.

    from store.store import Store
    from store import DocumentRecord, ChunkRecord, Hit

The names below are the store's light types, what other packages hand to a store and get back;
`Store` itself (which loads FAISS) is imported from `store.store`.
"""

from store.errors import RecipeMismatchError, SemsearchError, StoreError
from store.filters import Filter, parse_filter
from store.recipe import Recipe
from store.records import ChunkRecord, DocumentRecord, StoredVersion, content_hash
from store.results import Hit

__all__ = [
    "ChunkRecord",
    "DocumentRecord",
    "Filter",
    "Hit",
    "Recipe",
    "RecipeMismatchError",
    "SemsearchError",
    "StoreError",
    "StoredVersion",
    "content_hash",
    "parse_filter",
]
