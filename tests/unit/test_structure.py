"""The house stays built: no import cycle, no import across a boundary the data flow
forbids, no oversized module, no simulator in the product's drivers, and no import
hidden in a function without a reason listed here.

Every import counts, also those inside functions and under TYPE_CHECKING. The parts and
the arrows they may not draw are the table below; docs/architecture.md explains them.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("edge_agent", "drivers", "rules", "fieldsim", "firmware_profiles")
MAX_LINES = 450

# Part -> the path prefixes it is made of (the longest prefix wins).
PARTS: dict[str, tuple[str, ...]] = {
    "core": ("edge_agent/__init__.py", "edge_agent/errors.py",
             "edge_agent/records.py", "edge_agent/clock.py"),
    "config": ("edge_agent/config/",),
    "system": ("edge_agent/system/",),
    "pipeline": ("edge_agent/pipeline/",),
    "store": ("edge_agent/store/",),
    "uplink": ("edge_agent/uplink/",),
    "ops": ("edge_agent/ops/",),
    "control": ("edge_agent/control/",),
    "daemon": ("edge_agent/daemon/",),
    "demo": ("edge_agent/demo/",),
    "cli": ("edge_agent/cli/", "edge_agent/__main__.py"),
    "drivers": ("drivers/",),
    "rules": ("rules/",),
    "fieldsim": ("fieldsim/",),
    "profiles": ("firmware_profiles/",),
}  # fmt: skip

DAEMON = {"config", "system", "pipeline", "store", "uplink", "ops", "control", "daemon",
          "demo", "cli"}  # fmt: skip

# (from part, to parts it may never import, why)
NEVER: list[tuple[str, set[str], str]] = [
    ("drivers", DAEMON | {"core", "rules", "fieldsim"}, "drivers are a library: bus I/O only"),
    (
        "rules",
        DAEMON | {"core", "drivers", "fieldsim"},
        "detection works on values from any source (backtest), knows no daemon or bus",
    ),
    ("core", DAEMON | {"fieldsim"}, "the shared records sit under every part of the daemon"),
    ("config", DAEMON - {"config"} | {"fieldsim"}, "validating a file needs no running part"),
    ("system", DAEMON - {"system"} | {"drivers", "rules", "fieldsim"}, "logs and sd_notify"),
    (
        "store",
        DAEMON - {"store", "system"} | {"drivers", "fieldsim"},
        "the store keeps facts: no broker, no bus, no wire format",
    ),
    (
        "uplink",
        DAEMON - {"uplink", "config", "system", "store"} | {"drivers", "fieldsim"},
        "the uplink alone knows the wire format; it drains the store and knows nothing else",
    ),
    (
        "pipeline",
        {"uplink", "ops", "control", "daemon", "demo", "cli", "fieldsim"},
        "the data path ends at the store; it does not publish",
    ),
    (
        "control",
        DAEMON - {"control", "config"} | {"drivers", "rules", "fieldsim"},
        "the control socket carries requests; it does not answer them",
    ),
    (
        "ops",
        {"uplink", "daemon", "demo", "cli", "fieldsim"},
        "operations see the RunningGateway view, never the Agent or a wire format",
    ),
    ("daemon", {"demo", "cli", "fieldsim"}, "the daemon runs without a screen or simulators"),
    ("fieldsim", DAEMON | {"core", "rules"}, "simulators stand in for devices, nothing more"),
]

# Imports inside a function, each with its reason; any other is a finding.
LAZY_IMPORTS: dict[str, str] = {
    "edge_agent.cli": "`edge-agent status` must not pay for numba and pydantic models",
    "edge_agent.cli.run_cmd": "only `run` and `demo` load the daemon (numba, pymodbus, aiomqtt)",
    "edge_agent.cli.read_cmd": "only a read or scan with no agent to ask opens a bus itself",
    "edge_agent.cli.rules_cmd": "only a backtest loads the engine; only --plot loads matplotlib",
    "edge_agent.daemon.loading": "checking rules against poll intervals binds them (numpy); "
    "`status` starts without numpy",
    "drivers.bus": "a gateway without serial lines never imports pyserial, and the reverse",
    "rules.backtest.plot": "matplotlib is an optional extra, imported only to draw",
}


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    part: str


def _modules() -> dict[str, Module]:
    out = {}
    for pkg in PACKAGES:
        for f in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(f.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join(parts)
            out[name] = Module(name, f, _part_of(f.relative_to(ROOT).as_posix()))
    return out


def _part_of(path: str) -> str:
    best, length = "", -1
    for part, prefixes in PARTS.items():
        for prefix in prefixes:
            if path.startswith(prefix) and len(prefix) > length:
                best, length = part, len(prefix)
    assert best, f"{path} belongs to no part: add it to PARTS"
    return best


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(mod: Module) -> list[tuple[str, bool]]:
    """(imported module, inside a function) for every import of `mod`."""
    tree = ast.parse(mod.path.read_text(encoding="utf-8"))
    package = mod.name.split(".") if mod.path.name == "__init__.py" else mod.name.split(".")[:-1]
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    up = package[: len(package) - (child.level - 1)]
                    base = ".".join(up + ([base] if base else []))
                names = [f"{base}.{a.name}" for a in child.names] + [base]
            for n in names:
                target = _resolve(n)
                if target and target != mod.name and not mod.name.startswith(target + "."):
                    found.append((target, in_function))
            if isinstance(child, ast.Import | ast.ImportFrom) and in_function:
                found.append(("<lazy>", True))
            visit(child, inner)

    visit(tree, False)
    return found


EDGES = {m: {t for t, _ in _imports(mod) if t != "<lazy>"} for m, mod in MODULES.items()}


def _cycles() -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in EDGES[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in EDGES:
        if v not in index:
            strong(v)
    return out


def test_every_package_is_found() -> None:
    assert {m.split(".")[0] for m in MODULES} == set(PACKAGES)
    assert len(MODULES) > 100


def test_no_import_cycle() -> None:
    assert _cycles() == []


@pytest.mark.parametrize(("source", "targets", "why"), NEVER, ids=[n[0] for n in NEVER])
def test_no_import_crosses_a_forbidden_boundary(source: str, targets: set[str], why: str) -> None:
    crossing = [
        f"{m} -> {t}"
        for m, ts in EDGES.items()
        if MODULES[m].part == source
        for t in ts
        if MODULES[t].part in targets
    ]
    assert crossing == [], why


def test_the_product_imports_no_simulator() -> None:
    users = {m for m, ts in EDGES.items() for t in ts if MODULES[t].part == "fieldsim"}
    assert {MODULES[m].part for m in users} <= {"fieldsim", "demo"}


def test_no_module_is_oversized() -> None:
    sizes = {m: sum(1 for _ in mod.path.open(encoding="utf-8")) for m, mod in MODULES.items()}
    assert {m: n for m, n in sizes.items() if n > MAX_LINES} == {}


def test_imports_inside_functions_have_a_listed_reason() -> None:
    lazy = {m for m, mod in MODULES.items() if any(t == "<lazy>" for t, _ in _imports(mod))}
    assert lazy <= set(LAZY_IMPORTS), f"unlisted: {sorted(lazy - set(LAZY_IMPORTS))}"


def test_the_checker_sees_a_cycle_and_a_forbidden_import(tmp_path: Path) -> None:
    """The check itself can fail: a module that imports upward is seen as such."""
    src = "from edge_agent.uplink.payloads import Encoder\n"
    mod = Module("edge_agent.store.fake", tmp_path / "fake.py", "store")
    mod.path.write_text(src)
    targets = {t for t, _ in _imports(mod)}
    assert "edge_agent.uplink.payloads" in targets
    assert MODULES["edge_agent.uplink.payloads"].part in NEVER[5][1]


# Where the repository must not point: paths that exist only on the machines it was
# written on. A clone alone has to pass its tests and make sense of its docs.
MACHINE_PATHS = ("/work/" + "shared", "../" + "shared")
SHIPPED = ("bench", "docs", "drivers", "edge_agent", "examples", "fieldsim",
           "firmware_profiles", "rules", "scripts", "systemd", "tests")  # fmt: skip
TEXT = {".py", ".md", ".toml", ".yaml", ".yml", ".sh", ".service", ".socket", ".conf", ".txt"}


def test_nothing_names_a_machine_path_outside_the_repository() -> None:
    files = [ROOT / "README.md"]
    for top in SHIPPED:
        files += [p for p in (ROOT / top).rglob("*") if p.is_file() and p.suffix in TEXT]
    hits = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in files
        for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1)
        if any(m in line for m in MACHINE_PATHS)
    ]
    assert hits == []
