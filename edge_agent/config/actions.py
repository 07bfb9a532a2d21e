"""Which device points an action names, on this gateway: `device/point` as written, or a
bare point name on every device sharing the alarm's device tags listed in the action's
`scope` (and carrying the target's own `tags`). One resolution, used by the checks here
(`config check`, `rules check -c`, start-up) and by the action stage at run time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from drivers.profiles import Profile
from drivers.write import refusal
from edge_agent.config.devices import DeviceConfig
from edge_agent.errors import Problem
from rules.spec import Action, Interlock, RuleSet, Target
from rules.spec.actions import point_name, select_devices

Ref = Target | Interlock


def resolve(
    action: Action, ref: Ref, alarm_device: DeviceConfig | None, devices: Sequence[DeviceConfig]
) -> list[tuple[DeviceConfig, str]]:
    """(device, point name) pairs `ref` names for an alarm of `alarm_device`, among the
    enabled devices (rules.spec.select_devices decides; the profiles decide whether a
    device has the point, see the callers)."""
    enabled = {d.name: d for d in devices if d.enabled}
    tags = {name: dict(d.tags) for name, d in enabled.items()}
    alarm = alarm_device.name if alarm_device is not None else None
    return [(enabled[n], point_name(ref)) for n in select_devices(action, ref, alarm, tags)]


def _candidates(action: Action, ref: Ref, devices: Sequence[DeviceConfig]) -> list[DeviceConfig]:
    """Every device a ref could name, whatever the alarm (for the checks)."""
    enabled = [d for d in devices if d.enabled]
    if not ref.scoped:
        name = ref.point.partition("/")[0]
        return [d for d in enabled if d.name == name]
    return [
        d for d in enabled
        if all(k in d.tags for k in action.scope)
        and all(d.tags.get(k) == v for k, v in ref.tags.items())
    ]  # fmt: skip


def check_actions(
    ruleset: RuleSet, devices: Sequence[DeviceConfig], profiles: Mapping[str, Profile]
) -> list[Problem]:
    """Targets exist and are writable with their values in range; interlocks exist."""
    problems: list[Problem] = []
    for action, (file, i) in zip(ruleset.actions, ruleset.action_sources, strict=True):
        refs: list[tuple[str, Ref]] = [(f"set[{j}]", t) for j, t in enumerate(action.set)]
        refs += [(f"on_clear[{j}]", t) for j, t in enumerate(action.on_clear)]
        refs += [(f"unless[{j}]", c) for j, c in enumerate(action.unless)]
        for key, ref in refs:
            loc = f"actions[{i}].{key}.point"
            found = False
            for d in _candidates(action, ref, devices):
                profile = profiles.get(d.profile)
                if profile is None:
                    continue
                try:
                    spec = profile.point(point_name(ref))
                except KeyError:
                    continue
                found = True
                if isinstance(ref, Target):
                    why = refusal(spec, ref.value)
                    if why is not None:
                        at = loc if not spec.writable else loc.removesuffix("point") + "value"
                        problems.append(Problem(file, at, f"{d.name}/{spec.name}: {why}"))
            if not found:
                where = "device" if not ref.scoped else f"device sharing tags {action.scope}"
                msg = f"no enabled {where} on this gateway has point {ref.point!r}"
                problems.append(Problem(file, loc, msg))
    return problems
