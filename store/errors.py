"""The errors semsearch raises for conditions a user can act on; anything else is a bug.

Every class here (and every project error elsewhere) derives from `SemsearchError`, whose message
is written for the user: the command line prints it and exits with status 2.
"""

from __future__ import annotations


class SemsearchError(Exception):
    """Base of every error whose message is meant for the user."""


class StoreError(SemsearchError):
    """A store that cannot be used as asked; the message says why and what to do."""


class MissingStoreError(StoreError):
    """No store in the folder (never made, or deleted)."""


class RecipeMismatchError(StoreError):
    """Vectors made another way than the store's."""


class StoreLockedError(StoreError):
    """Another process is writing to this store."""


class DamagedStoreError(StoreError):
    """`store.db` is not a semsearch store, or SQLite finds it damaged."""
