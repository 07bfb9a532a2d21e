"""The installer's documentation stays true to the code.

- every CLI command and subcommand (walked from the argparse tree) has a heading in
  docs/cli.md and a `--help` with an example of itself;
- every key of gateway.toml (walked from the pydantic models, each bus kind on its
  own) is in its section of docs/config.md, with its default where it has one;
- every example config in examples/ passes what `edge-agent config check` runs, and
  every full gateway config in a ```toml block of README.md and docs/*.md passes
  `load_config`;
- every rule pack, rule id, firmware profile id and pack tag named in the docs exists,
  and every tag the shipped packs use is documented.

Pure: no sockets, no buses; files are written to tmp_path only.
"""

from __future__ import annotations

import argparse
import re
import tomllib
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from drivers.profiles import load_profiles
from edge_agent.cli.root import build_parser
from edge_agent.config import GatewayConfig, load_config
from edge_agent.daemon.loading import load_everything, point_metas
from rules.compile import bind_rules, selects, tag_number
from rules.spec import PACKS, load_rules

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
CLI_MD = DOCS / "cli.md"
CONFIG_MD = DOCS / "config.md"
PROFILES_MD = DOCS / "profiles.md"
EXAMPLES = ROOT / "examples"
PROSE = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


# -- the CLI ------------------------------------------------------------------------------


def _commands() -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """(command path such as "config check", its parser) for every command and group."""

    def walk(p: argparse.ArgumentParser, path: tuple[str, ...]) -> Iterator[Any]:
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    yield " ".join((*path, name)), child
                    yield from walk(child, (*path, name))

    yield from walk(build_parser(), ())


COMMANDS = dict(_commands())


def test_the_cli_tree_is_walked() -> None:
    # Guards the walker itself: the PRODUCT.md command list must be found.
    for cmd in ("run", "demo", "config check", "rules check", "profiles show", "buffer export"):
        assert cmd in COMMANDS, f"walker did not find `edge-agent {cmd}`"


@pytest.mark.parametrize("cmd", sorted(COMMANDS))
def test_command_has_a_heading_in_cli_md(cmd: str) -> None:
    headings = [ln for ln in CLI_MD.read_text().splitlines() if ln.startswith("#")]
    pattern = re.compile(r"`edge-agent " + re.escape(cmd) + r"(?:[ `\[])")
    assert any(pattern.search(h) for h in headings), (
        f"`edge-agent {cmd}` has no heading in docs/cli.md "
        f"(add e.g. '### `edge-agent {cmd}`' with what it does)"
    )


@pytest.mark.parametrize("cmd", sorted(COMMANDS))
def test_command_help_shows_an_example(cmd: str) -> None:
    parser = COMMANDS[cmd]
    text = parser.format_help()
    assert re.search(r"^examples?:", text, re.MULTILINE), (
        f"`edge-agent {cmd} --help` has no 'example:' section (set epilog= in its parser)"
    )
    assert f"edge-agent {cmd}" in (parser.epilog or ""), (
        f"the example in `edge-agent {cmd} --help` does not show `edge-agent {cmd} ...`"
    )


# -- gateway.toml keys --------------------------------------------------------------------


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """Pydantic models inside an annotation (through Annotated, Optional, list, unions)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        out += _models_in(arg)
    return out


def _is_list(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is list:
        return True
    if origin is typing.Annotated or origin is typing.Union or origin is types.UnionType:
        return any(_is_list(a) for a in typing.get_args(annotation))
    return False


def _kind(model: type[BaseModel]) -> str | None:
    field = model.model_fields.get("kind")
    if field is None:
        return None
    args = typing.get_args(field.annotation)
    return str(args[0]) if args else None


class Key(typing.NamedTuple):
    section: str  # the TOML header as written in config.md: "[mqtt.tls]", "[[buses]]"
    kind: str | None  # a bus kind: its keys may also sit under '`kind = "..."`'
    name: str  # as written in gateway.toml (the alias, e.g. `from`)
    field: FieldInfo

    @property
    def id(self) -> str:
        where = self.section + (f"({self.kind})" if self.kind else "")
        return f"{where}.{self.name}"


def _keys(model: type[BaseModel], dotted: str = "", header: str = "") -> Iterator[Key]:
    for name, field in model.model_fields.items():
        key = field.alias or name
        children = _models_in(field.annotation)
        if header:
            yield Key(header, _kind(model), key, field)
        if children:
            path = f"{dotted}.{key}" if dotted else key
            sub = f"[[{path}]]" if _is_list(field.annotation) else f"[{path}]"
            for child in children:
                yield from _keys(child, path, sub)


KEYS = list(_keys(GatewayConfig))


def test_the_config_models_are_walked() -> None:
    ids = {k.id for k in KEYS}
    for expected in (
        "[gateway].id",
        "[[gateway.mode_schedule]].from",
        "[mqtt.tls].cert_file",
        "[mqtt.commands].hmac_key_file",
        "[buffer].max_mb",
        "[[buses]](modbus-rtu).parity",
        "[[buses]](modbus-rtu-over-tcp).host",
        "[[devices]].poll_interval_alarm_s",
    ):
        assert expected in ids, f"walker did not find {expected}"


def _sections(text: str) -> dict[str, str]:
    """Text under each heading that names a TOML table (`[mqtt]`) or a bus kind
    (`kind = "modbus-rtu"`), up to the next heading of any level."""
    out: dict[str, str] = {}
    current: str | None = None
    in_code = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if not in_code and re.match(r"^#{1,6} ", line):
            m = re.search(r"`(\[\[?[a-z_.]+\]\]?|kind = \"[a-z-]+\")`", line)
            current = m.group(1) if m else None
            if current is not None:
                out[current] = ""
            continue
        if current is not None:
            out[current] += line + "\n"
    return out


def _mentions(section: str, key: str) -> bool:
    k = re.escape(key)
    return bool(re.search(rf"`{k}`|^#? ?{k} = ", section, re.MULTILINE))


def _toml(value: Any) -> list[str]:
    """How a default may be written in the docs."""
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, str | Path):
        return [f'"{value}"']
    if isinstance(value, float):
        return [repr(value)] + ([str(int(value))] if value.is_integer() else [])
    if isinstance(value, int):
        return [str(value)]
    if isinstance(value, list | tuple):
        return ["[" + ", ".join(_toml(v)[0] for v in value) + "]"]
    return []


def _where(key: Key) -> list[str]:
    sections = _sections(CONFIG_MD.read_text())
    assert key.section in sections, (
        f"docs/config.md has no heading naming `{key.section}` (a section of gateway.toml)"
    )
    found = [sections[key.section]]
    if key.kind is not None:
        kind_heading = f'kind = "{key.kind}"'
        assert kind_heading in sections, (
            f"docs/config.md has no heading '`{kind_heading}`' for that bus kind"
        )
        found.append(sections[kind_heading])
    return found


@pytest.mark.parametrize("key", KEYS, ids=[k.id for k in KEYS])
def test_config_key_is_documented(key: Key) -> None:
    assert any(_mentions(s, key.name) for s in _where(key)), (
        f"gateway.toml key {key.id} is not documented in its section of docs/config.md"
    )


WITH_DEFAULT = [k for k in KEYS if _toml(k.field.get_default(call_default_factory=True))]


@pytest.mark.parametrize("key", WITH_DEFAULT, ids=[k.id for k in WITH_DEFAULT])
def test_config_default_is_documented(key: Key) -> None:
    default = key.field.get_default(call_default_factory=True)
    forms = _toml(default)
    k = re.escape(key.name)
    ok = False
    for section in _where(key):
        for form in forms:
            f = re.escape(form)
            row = re.search(rf"^\| `{k}` \|[^|\n]*\| `{f}`", section, re.MULTILINE)
            line = re.search(rf"^# {k} = {f}\s*(#.*)?$", section, re.MULTILINE)
            ok = ok or bool(row or line)
    assert ok, (
        f"docs/config.md does not give the default of {key.id}: expected '# {key.name} = "
        f"{forms[0]}' or a table row | `{key.name}` | type | `{forms[0]}` |"
    )


# -- example and documented configs -------------------------------------------------------


EXAMPLE_CONFIGS = sorted(
    p for p in EXAMPLES.rglob("*.toml") if "gateway" in tomllib.loads(p.read_text())
)


def test_examples_cover_the_three_networks() -> None:
    kinds: set[str] = set()
    mtls_signed = False
    for path in EXAMPLE_CONFIGS:
        cfg = load_config(path, check_files=False)
        kinds |= {b.kind for b in cfg.buses}
        tls = cfg.mqtt.tls
        if tls and tls.cert_file and cfg.mqtt.commands.hmac_key_file:
            mtls_signed = True
    assert len(EXAMPLE_CONFIGS) >= 3, f"only {len(EXAMPLE_CONFIGS)} example configs in examples/"
    assert {"modbus-tcp", "modbus-rtu"} <= kinds, f"examples cover bus kinds {sorted(kinds)}"
    assert mtls_signed, "no example with mutual TLS and signed commands (hmac_key_file)"


@pytest.mark.parametrize("path", EXAMPLE_CONFIGS, ids=[p.parent.name for p in EXAMPLE_CONFIGS])
def test_example_config_passes_config_check(path: Path) -> None:
    # What `edge-agent config check` runs: config (files must exist), profiles, rules.
    cfg, profiles, ruleset = load_everything(path)
    assert cfg.devices, f"{path}: an example without devices"
    assert ruleset.rules, f"{path}: an example that loads no rules"
    metas = point_metas(cfg, profiles)
    watched = {metas[b.point_idx].device for bs in bind_rules(ruleset, metas).values() for b in bs}
    idle = [d.name for d in cfg.devices if d.enabled and d.name not in watched]
    assert not idle, f"{path}: devices no rule binds to: {idle}"
    # A rule with relative limits silently skips a point without its tag: in an example,
    # every point such a rule would otherwise select carries the tag.
    untagged = [
        f"{m.key} lacks tag {ref!r} for {rule.id}"
        for rule in ruleset.rules
        if (ref := getattr(rule, "relative_to", None))
        for m in metas
        if selects(rule.model_copy(update={"relative_to": None}), m) and tag_number(m, ref) is None
    ]
    assert not untagged, f"{path}: {untagged}"


def _toml_blocks() -> Iterator[tuple[str, str]]:
    for doc in PROSE:
        text = doc.read_text()
        for m in re.finditer(r"^```toml\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
            line = text[: m.start()].count("\n") + 1
            yield f"{doc.relative_to(ROOT)}:{line}", m.group(1)


def _full_config(block: str) -> bool:
    try:
        data = tomllib.loads(block)
    except tomllib.TOMLDecodeError:
        return False
    gw = data.get("gateway")
    return isinstance(gw, dict) and "id" in gw and "site" in gw


FULL_BLOCKS = [(where, b) for where, b in _toml_blocks() if _full_config(b)]


def test_docs_have_full_config_blocks() -> None:
    wheres = " ".join(w for w, _ in FULL_BLOCKS)
    assert "README.md" in wheres, f"no full gateway config found in README.md: {wheres}"
    assert "docs/config.md" in wheres, f"no full gateway config in docs/config.md: {wheres}"


@pytest.mark.parametrize("block", [b for _, b in FULL_BLOCKS], ids=[w for w, _ in FULL_BLOCKS])
def test_documented_config_block_loads(block: str, tmp_path: Path) -> None:
    # The blocks name the installer's secret files under /etc (not here: check_files=False)
    # and the site's own profile folders (created empty, as on a fresh gateway).
    for ref in tomllib.loads(block)["gateway"].get("profiles", []):
        if ref.endswith("/"):
            (tmp_path / ref).mkdir(parents=True, exist_ok=True)
    path = tmp_path / "gateway.toml"
    path.write_text(block)
    load_config(path, check_files=False)


def test_broken_block_is_caught(tmp_path: Path) -> None:
    # The block test can fail: a misspelt key in a documented config is an error.
    block = FULL_BLOCKS[0][1].replace("[gateway]", "[gateway]\nsiet = 'x'", 1)
    path = tmp_path / "gateway.toml"
    path.write_text(block)
    with pytest.raises(Exception, match="siet"):
        load_config(path, check_files=False)


# -- names the docs mention ---------------------------------------------------------------


def _texts() -> Iterator[tuple[str, str]]:
    for p in [*PROSE, *sorted(EXAMPLES.rglob("*.toml")), *sorted(EXAMPLES.rglob("*.md"))]:
        yield str(p.relative_to(ROOT)), p.read_text()


PROFILE_IDS = set(load_profiles([]))
PACK_RULES = {r.id: r for r in load_rules(list(PACKS), ROOT).rules}


def test_profile_ids_in_docs_exist() -> None:
    missing = []
    for where, text in _texts():
        refs = re.findall(r'\bprofile = "([^"]+)"', text)
        refs += re.findall(r"edge-agent profiles show ([A-Za-z0-9_.-]+)", text)
        missing += [f"{where}: {r}" for r in refs if r not in PROFILE_IDS]
    assert not missing, f"profile ids named in docs but not packaged: {missing}"


def test_profiles_md_lists_every_shipped_profile() -> None:
    text = PROFILES_MD.read_text().split("## Shipped profiles", 1)[-1]
    listed = set(re.findall(r"^\| `([a-z0-9_.-]+)` \|", text, re.MULTILINE))
    assert listed == PROFILE_IDS, (
        f"docs/profiles.md 'Shipped profiles': missing {sorted(PROFILE_IDS - listed)}, "
        f"not packaged {sorted(listed - PROFILE_IDS)}"
    )


def test_rule_packs_in_docs_exist() -> None:
    missing = []
    for where, text in _texts():
        for m in re.finditer(r"^\s*rules = \[([^\]]*)\]", text, re.MULTILINE):
            for ref in re.findall(r'"([^"]+)"', m.group(1)):
                if "/" not in ref and not ref.endswith(".toml") and ref not in PACKS:
                    missing.append(f"{where}: {ref}")
    assert not missing, f"rule packs named in docs that do not exist: {missing} (packs: {PACKS})"


def test_pack_rule_ids_in_docs_exist() -> None:
    missing = []
    for where, text in _texts():
        for rid in re.findall(r"`((?:gas|water|drain)\.[A-Za-z0-9_.:-]+)`", text):
            if rid not in PACK_RULES and not rid.endswith(".toml"):
                missing.append(f"{where}: {rid}")
    assert not missing, f"rule ids named in docs that no shipped pack defines: {missing}"


def _pack_tags() -> dict[str, set[str]]:
    """Tag name -> ids of the shipped rules that read it (selector, relative limit, scope)."""
    out: dict[str, set[str]] = {}
    for rule in PACK_RULES.values():
        names = set(rule.tags or {})
        # Keys whose value names a tag: relative_to, scope (composite), peers_scope (drift).
        for attr in type(rule).model_fields:
            value = getattr(rule, attr, None)
            if (attr == "relative_to" or attr.endswith("scope")) and value:
                names.add(value)
        for name in names:
            out.setdefault(name, set()).add(rule.id)
    return out


PACK_TAGS = _pack_tags()


def test_pack_tags_are_found() -> None:
    assert {"rim_depth_m", "pipe_crown_m", "pn_mpa"} <= set(PACK_TAGS), sorted(PACK_TAGS)


@pytest.mark.parametrize("tag", sorted(PACK_TAGS))
def test_pack_tag_is_documented_with_its_rules(tag: str) -> None:
    text = CONFIG_MD.read_text()
    section = text.split("### Tags the shipped rule packs use", 1)
    assert len(section) == 2, "docs/config.md has no section 'Tags the shipped rule packs use'"
    body = section[1].split("\n## ", 1)[0]
    row = re.search(rf"^\| `{re.escape(tag)}` \|.*$", body, re.MULTILINE)
    assert row, f"tag `{tag}` (used by {sorted(PACK_TAGS[tag])}) is not in the tags table"
    unlisted = [r for r in sorted(PACK_TAGS[tag]) if f"`{r}`" not in row.group(0)]
    assert not unlisted, f"tag `{tag}`: rules {unlisted} read it but its row does not name them"


def test_command_signing_example_matches_the_gateway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edge_agent.uplink.commands import sign

    text = CONFIG_MD.read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    block = next((b for b in blocks if "def signed_command" in b), None)
    assert block is not None, "docs/config.md lost its command signing example"
    (tmp_path / "commands.key").write_text("0f" * 32 + "\n")
    monkeypatch.chdir(tmp_path)
    scope: dict[str, Any] = {}
    exec(compile(block, "docs/config.md", "exec"), scope)
    payload = scope["payload"]
    key = ("0f" * 32).encode()
    expected = sign(key, "ack", payload["id"], payload["ts"], payload["args"])
    assert payload["sig"] == expected, "the documented signing code disagrees with the gateway"
    # Non-ASCII arguments too (the gateway signs JSON with ensure_ascii=False).
    args = {"id": "a-7f3c", "note": "检查"}
    doc = scope["signed_command"](key, "ack", "c-2", args)
    assert doc["sig"] == sign(key, "ack", "c-2", doc["ts"], args)
