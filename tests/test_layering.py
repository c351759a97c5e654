"""The house's floors (docs/guide.md): a module imports only from the layers its own layer may see, imports inside
functions included (an import put off into a function is still a dependency)."""
import ast
from pathlib import Path

import tinykd

ROOT = Path(tinykd.__file__).parent
SUBPACKAGES = {p.parent.name for p in ROOT.glob("*/__init__.py")}     # data, runs, experiments, exercises
COMMANDS = {"report"}                # python -m tinykd.report: the door into the experiments
# layer -> the layers its modules may import from (every module of tinykd/ not named here is unchecked)
ALLOWED = {
    "engine": {"engine"},
    "exercises": {"engine", "exercises"},
    "data": {"engine", "data"},
    "runs": {"engine", "runs"},
    "experiments": {"engine", "data", "runs", "experiments"},
    "commands": {"experiments"},
}
# one module per experiment (and Table 1's view beside its runner); none imports another, and no view imports a runner
EXPERIMENTS = {"table1", "table1_view", "xnor_kd", "fitnets_kd", "dark_knowledge", "hinton_paper"}
OWN_VIEW = {("table1", "table1_view")}


def layer(module):
    """The layer of a dotted tinykd name: its subpackage, ``commands`` for the command at the top, else the
    engine (the modules at the top of ``tinykd/``, and any name defined in one: ``tinykd.layers.MLP``)."""
    top = module.split(".")[1] if "." in module else ""
    return top if top in SUBPACKAGES else "commands" if top in COMMANDS else "engine"


def modules():
    """{dotted name: (source, whether it is a package's ``__init__``)} of every module under ``tinykd/``."""
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = ("tinykd", *path.relative_to(ROOT).with_suffix("").parts)
        package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if package else parts)] = (path.read_text(encoding="utf-8"), package)
    return out


def imported(name, source, package):
    """The tinykd names the module ``name`` imports anywhere in ``source`` (every ``import`` and ``from`` node of the
    tree, function bodies included), relative imports made absolute; ``from a import b`` gives ``a.b``."""
    here = name.split(".") if package else name.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(here[:len(here) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else node.module
            out |= {f"{base}.{alias.name}" for alias in node.names}
    return {m for m in out if m == "tinykd" or m.startswith("tinykd.")}


def violations(found):
    """``"module imports target (layer -> layer)"`` for each import that ``ALLOWED`` does not allow."""
    out = []
    for name, (source, package) in sorted(found.items()):
        allowed = ALLOWED.get(layer(name))
        if allowed is None:
            continue
        for target in sorted(imported(name, source, package)):
            if layer(target) not in allowed:
                out.append(f"{name} imports {target} ({layer(name)} -> {layer(target)})")
    return out


def test_each_layer_imports_only_the_layers_below_it():
    assert violations(modules()) == []


def module_of(target, found):
    """The module a dotted import names: itself, or the module that defines the name (``tinykd.layers.MLP``)."""
    while target not in found:
        target = target.rsplit(".", 1)[0]
    return target


def graph(found):
    """{module: the tinykd modules it imports}, imports inside functions included."""
    return {name: {module_of(t, found) for t in imported(name, source, package)} - {name}
            for name, (source, package) in found.items()}


def cycles(edges):
    """Every import cycle, each as the list of its modules (depth-first search, each cycle once)."""
    out, state = [], {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                out.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"
    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return out


def test_no_import_cycle():
    edges = graph(modules())
    # a package's __init__ imported for a sibling is not a cycle through its children: leave packages out
    edges = {k: {m for m in v if m not in ("tinykd", "tinykd.data", "tinykd.runs", "tinykd.experiments")}
             for k, v in edges.items()}
    assert cycles(edges) == []


def test_no_experiment_imports_another():
    edges = graph(modules())
    short = {n: n.rsplit(".", 1)[1] for n in edges if n.startswith("tinykd.experiments.")}
    found = [(short[a], short[b]) for a in short for b in edges[a] if b in short
             and short[a] in EXPERIMENTS and short[b] in EXPERIMENTS and (short[a], short[b]) not in OWN_VIEW]
    assert found == []


def test_the_checks_find_what_they_look_for():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_check_sees_imports_inside_functions_and_every_form():
    source = ("import tinykd.runs.locks\nfrom . import functional\nfrom .layers import MLP\n"
              "def save(model):\n    from .runs import checkpoints\n    from .data.named import load\n")
    assert violations({"tinykd.layers": (source, False)}) == [
        "tinykd.layers imports tinykd.data.named.load (engine -> data)",
        "tinykd.layers imports tinykd.runs.checkpoints (engine -> runs)",
        "tinykd.layers imports tinykd.runs.locks (engine -> runs)"]
    assert imported("tinykd.data", "from . import files\nfrom ..checks import check_rows\n", True) == {
        "tinykd.data.files", "tinykd.checks.check_rows"}
    assert {layer(m) for m in ("tinykd", "tinykd.train", "tinykd.report", "tinykd.runs", "tinykd.experiments.setup",
                               "tinykd.layers.MLP")} == {"engine", "commands", "runs", "experiments"}
