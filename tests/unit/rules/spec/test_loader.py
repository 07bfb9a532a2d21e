"""Rule files: packs load, bad files give one problem per fault with file and key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules.compile import bind_rules
from rules.errors import RuleError
from rules.events import PointMeta
from rules.spec import PACKS, ThresholdRule, load_rules


def write(tmp_path: Path, text: str, name: str = "r.toml") -> Path:
    (tmp_path / name).write_text(text)
    return tmp_path / name


def problems(tmp_path: Path, text: str) -> list[tuple[str, str, str]]:
    write(tmp_path, text)
    with pytest.raises(RuleError) as info:
        load_rules(["r.toml"], tmp_path)
    return [tuple(p) for p in info.value.problems]


@pytest.mark.parametrize("ref", [*PACKS, "rules/packs/gas.toml", "packs/water.toml"])
def test_packaged_packs_load_by_name_or_path(ref: str, tmp_path: Path) -> None:
    rs = load_rules([ref], tmp_path)
    assert rs.rules


def test_all_packs_load_together_without_duplicate_ids(tmp_path: Path) -> None:
    rs = load_rules(list(PACKS), tmp_path)
    ids = [r.id for r in rs.rules]
    assert len(ids) == len(set(ids))


def test_file_on_disk_wins_over_pack_name(tmp_path: Path) -> None:
    write(tmp_path, '[[rules]]\nid="mine"\nkind="threshold"\nquantity="x"\n'
          'direction="above"\nlevels=[{level=2, limit=1.0}]\n', "gas")  # fmt: skip
    rs = load_rules(["gas"], tmp_path)
    assert [r.id for r in rs.rules] == ["mine"]


def test_bad_limit_names_the_key_path(tmp_path: Path) -> None:
    got = problems(
        tmp_path,
        """
[[rules]]
id = "a"
kind = "threshold"
quantity = "pressure"
direction = "below"
levels = [ { level = 3, limit = "low" } ]
""",
    )
    assert len(got) == 1
    file, loc, msg = got[0]
    assert file.endswith("r.toml")
    assert loc == "rules[0].levels[0].limit"
    assert "number" in msg


def test_every_fault_is_reported_once(tmp_path: Path) -> None:
    got = problems(
        tmp_path,
        """
[[rules]]
id = "a"
kind = "threshold"
quantity = "pressure"
direction = "sideways"
levels = [ { level = 3, limit = 0.2 } ]
colour = "red"

[[rules]]
id = "b"
kind = "sorcery"
quantity = "pressure"
""",
    )
    locs = sorted(loc for _, loc, _ in got)
    assert locs == ["rules[0].colour", "rules[0].direction", "rules[1]"]
    kinds = next(msg for _, loc, msg in got if loc == "rules[1]")
    assert "threshold" in kinds


def test_level_order_is_checked(tmp_path: Path) -> None:
    got = problems(
        tmp_path,
        """
[[rules]]
id = "a"
kind = "threshold"
quantity = "methane_lel"
direction = "above"
levels = [ { level = 1, limit = 10.0 }, { level = 4, limit = 50.0 } ]
""",
    )
    assert len(got) == 1
    assert "level 1" in got[0][2]


def test_unknown_override_rule_is_reported(tmp_path: Path) -> None:
    got = problems(
        tmp_path,
        """
[[overrides]]
rule = "no.such.rule"
points = ["pt-1/pressure"]
hysteresis = 0.1
""",
    )
    assert got[0][1] == "overrides[0].rule"
    assert "no.such.rule" in got[0][2]


def test_override_parameters_are_validated_against_the_rule_kind(tmp_path: Path) -> None:
    write(tmp_path, '[[overrides]]\nrule="water.pressure.low"\npoints=["a/b"]\n'
          'hysteresis=-1\nwindow_s=3\n')  # fmt: skip
    with pytest.raises(RuleError) as info:
        load_rules(["water", "r.toml"], tmp_path)
    locs = sorted(p.loc for p in info.value.problems)
    assert locs == ["overrides[0].hysteresis", "overrides[0].window_s"]


def test_duplicate_rule_ids_across_files(tmp_path: Path) -> None:
    write(tmp_path, '[[rules]]\nid="water.pressure.low"\nkind="threshold"\nquantity="x"\n'
          'direction="above"\nlevels=[{level=2, limit=1.0}]\n')  # fmt: skip
    with pytest.raises(RuleError, match="duplicate rule id"):
        load_rules(["water", "r.toml"], tmp_path)


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    write(tmp_path, "[[rules]\n", "broken.toml")
    with pytest.raises(RuleError) as info:
        load_rules(["nope.toml", "broken.toml"], tmp_path)
    msgs = [p.msg for p in info.value.problems]
    assert len(msgs) == 2
    assert "no such rule file" in msgs[0]
    assert "TOML" in msgs[1]


def test_rule_without_selector_is_refused(tmp_path: Path) -> None:
    got = problems(tmp_path, '[[rules]]\nid="a"\nkind="threshold"\ndirection="above"\n'
                   'levels=[{level=2, limit=1.0}]\n')  # fmt: skip
    assert got[0][1] == "rules[0]"
    assert "selector" in got[0][2]


def test_pack_values_follow_the_domain_sources(tmp_path: Path) -> None:
    rule = load_rules(["gas"], tmp_path).rule("gas.methane_lel.high")
    assert isinstance(rule, ThresholdRule)
    assert {lv.level: lv.limit for lv in rule.levels} == {4: 5.0, 3: 10.0, 2: 25.0, 1: 50.0}


def test_a_bad_rule_does_not_hide_the_problems_of_others(tmp_path: Path) -> None:
    got = problems(
        tmp_path,
        """
[[rules]]
id = "broken"
kind = "threshold"
quantity = "pressure"
direction = "up"
levels = [ { level = 3, limit = 0.2 } ]

[[overrides]]
rule = "broken"
points = ["a/b"]

[[overrides]]
rule = "nope"
points = ["a/b"]

[extra]
""",
    )
    # the override of the broken rule is not also called unknown
    assert sorted(loc for _, loc, _ in got) == ["extra", "overrides[1].rule", "rules[0].direction"]


def test_a_composite_cannot_be_overridden_per_point(tmp_path: Path) -> None:
    write(tmp_path, '[[overrides]]\nrule="water.burst"\npoints=["a/b"]\nlevel=1\n')
    with pytest.raises(RuleError) as info:
        load_rules(["water", "r.toml"], tmp_path)
    (p,) = info.value.problems
    assert (p.loc, "composite" in p.msg) == ("overrides[0].rule", True)


def test_water_pressure_rules_leave_gas_mains_to_the_gas_pack() -> None:
    ruleset = load_rules(["gas", "water"], Path.cwd())
    water_main = PointMeta("pt-1", "pressure", "pressure", "MPa", 0, 1.6, {"zone": "a"})
    gas_main = PointMeta("pg-1", "pressure", "pressure", "MPa", 0, 1.6,
                         {"network": "gas", "pn_mpa": "0.4"})  # fmt: skip
    bound = bind_rules(ruleset, [water_main, gas_main])
    rules_of = {
        i: {b.rule.id for kind in bound.values() for b in kind if b.point_idx == i} for i in (0, 1)
    }
    assert "water.pressure.low" in rules_of[0]
    assert not any(r.startswith("water.") for r in rules_of[1])
    assert "gas.pressure.low" in rules_of[1]
