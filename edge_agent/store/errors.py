"""Errors of the store."""

from __future__ import annotations

from edge_agent.errors import EdgeAgentError


class StoreError(EdgeAgentError):
    """The buffer database cannot be opened, created or written."""
