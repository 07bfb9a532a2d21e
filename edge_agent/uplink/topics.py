"""Topic names of the MQTT API, all under root = {topic_prefix}/{site}/{gateway_id}."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Topics:
    root: str

    @classmethod
    def build(cls, topic_prefix: str, site: str, gateway_id: str) -> Topics:
        return cls(f"{topic_prefix}/{site}/{gateway_id}")

    @property
    def status(self) -> str:
        return f"{self.root}/status"

    @property
    def alarms(self) -> str:
        return f"{self.root}/alarms"

    @property
    def health(self) -> str:
        return f"{self.root}/health"

    @property
    def commands(self) -> str:
        """The subscription filter for every command."""
        return f"{self.root}/cmd/+"

    def alarm(self, device: str, point: str) -> str:
        return f"{self.root}/alarm/{device}/{point}"

    def action(self, device: str, point: str) -> str:
        return f"{self.root}/action/{device}/{point}"

    def telemetry(self, device: str) -> str:
        return f"{self.root}/telemetry/{device}"

    def command(self, name: str) -> str:
        return f"{self.root}/cmd/{name}"

    def reply(self, name: str) -> str:
        return f"{self.root}/cmd/{name}/reply"

    def command_name(self, topic: str) -> str | None:
        """`{root}/cmd/{name}` -> name; None for any other topic (replies included)."""
        prefix = f"{self.root}/cmd/"
        if not topic.startswith(prefix):
            return None
        name = topic[len(prefix) :]
        return name if name and "/" not in name else None
