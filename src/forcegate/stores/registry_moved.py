"""A single-use decision made against the registry as the worker had it cached, written only if the
registry is still at that generation (decision 0036).

The token endpoint and a JWT sent directly used to read the registry generation before deciding (one
read, one round trip on PostgreSQL). Instead the decision's own write checks it: given
``generation``, :meth:`~forcegate.stores.protocols.GrantRecorder.record_grant` and
:meth:`~forcegate.stores.protocols.GrantRecorder.claim` count, claim and write nothing unless the
registry is still there, and raise :class:`RegistryMoved` with the generation they found. The caller
brings its cache to it and decides again. A registry change still takes effect on the next request
(decision 0009): a write that begins after the change was committed sees the new generation.
"""

from __future__ import annotations

__all__ = ["RegistryMoved"]


class RegistryMoved(Exception):
    """The registry is at ``generation``, not at the one the decision was made at: nothing was written."""

    def __init__(self, generation: int) -> None:
        super().__init__(f"the registry moved to generation {generation}")
        self.generation = generation
