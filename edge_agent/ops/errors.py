"""The one error of the ops layer: a request that was understood but cannot be done.

It is an EdgeAgentError, so the control server and the MQTT command router both turn
it into an error reply carrying its message, and neither needs to know the ops layer."""

from __future__ import annotations

from edge_agent.errors import EdgeAgentError


class OpError(EdgeAgentError):
    """A command or control request that cannot be done; the message says why."""
