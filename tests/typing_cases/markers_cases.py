"""No caller can name a capability marker, so none can unlock a fallback overload (issue 12).

A lifted capability accessor of a higher-order topology has a fallback overload
taking a marker type; a call reaches it only when the members lack the
capability, and fails because no caller has a marker. While the markers were
public (``from topologies import NotPostgreSQL``), a user could pass one, and
``FailoverTopology(docker, docker).postgresql(NotPostgreSQL())`` type-checked.

The package's lazy ``__getattr__`` must be hidden from the checkers too (under
``if not TYPE_CHECKING``): seen by them it types every unknown name as Any,
markers included.
"""

from __future__ import annotations

import topologies

topologies.NotPostgreSQL  # type: ignore[attr-defined]
topologies.NotDocker  # type: ignore[attr-defined]
topologies.NotK8sClient  # type: ignore[attr-defined]
import topologies.markers  # type: ignore[import-not-found]  # noqa: E402
