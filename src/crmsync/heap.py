"""Keep what a process loaded at start-up out of the garbage collector's later full collections."""

from __future__ import annotations

import gc


def freeze_start_up_objects() -> None:
    """Collect once, then freeze every object alive: later collections no longer walk them.

    Modules, the SQLAlchemy and pydantic machinery, the config and the connectors live as long as a
    `serve`, `worker` or `sync` process. Its full collections walked them again and again: in `serve`
    100-250 ms each, stalling every webhook under way; a worker spent 1.16 s of its 6.6 s of CPU for
    30,000 jobs in them, 0.40 s once frozen.
    """
    gc.collect()
    gc.freeze()


__all__ = ["freeze_start_up_objects"]
