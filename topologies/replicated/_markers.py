"""Marker types that make mypy reject a capability call a sub-topology cannot serve.

Each higher-order capability method has a fallback overload whose parameter
is one of these. No value of them exists in user code, so a call that falls
through to the fallback fails, and mypy's message names the marker: it reads
as the capability the sub-topology is missing. They are private (not exported
from ``topologies``): a caller who could construct one would unlock the
fallback overload.
"""

from typing import final


@final
class _NotPostgreSQL:
    """The sub-topology does not provide the PostgreSQL capability."""
