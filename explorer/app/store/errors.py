"""The store's one error: what went wrong, in words a teacher running the server can act on."""


class StoreError(RuntimeError):
    """The run store cannot be used, or a stored run cannot be read back; the message says why and what to do.
    Messages never hold a database password (URLs are shown with it hidden)."""


class RunGone(StoreError):
    """The run is not in the store (any more): let go after its keep time or for the size budget, or never saved."""
