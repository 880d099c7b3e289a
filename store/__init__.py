"""A store folder: SQLite as the source of truth, FAISS as a rebuildable index."""
