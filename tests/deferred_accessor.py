"""A topology whose accessor's return type is imported for type checkers only, as the hosts do (adr/0110).

The capability check must still read it and find what the service lacks
(tests/test_capability_signatures.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harmony_py import TopologyReport

if TYPE_CHECKING:
    from tests.test_capability_signatures import MuteGreeter


class DeferredMuteTopology:
    name = "deferred"

    async def ensure_ready(self) -> TopologyReport:
        return TopologyReport(self.name)

    def greeter(self) -> MuteGreeter:
        from tests.test_capability_signatures import MuteGreeter

        return MuteGreeter()
