"""edge-agent: the daemon core (config, scheduling, store, uplink, CLI)."""

__version__ = "0.1.0"
