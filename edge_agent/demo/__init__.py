"""`edge-agent demo`: the agent on simulated field devices, end to end, on loopback."""

from edge_agent.demo.broker import private_mosquitto
from edge_agent.demo.runner import parse_hostport, run_demo

__all__ = ["parse_hostport", "private_mosquitto", "run_demo"]
