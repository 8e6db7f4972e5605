"""The library's packages import one way: data -> generators -> train / mixing -> report (DESIGN.md).

``ALLOWED`` is the whole graph: a package may import itself and the packages it lists, nothing else
(lazily inside a function too). Inside a package, modules may import each other in any order that
has no cycle.
"""

import ast
import pathlib

import cgan_augment

ROOT = pathlib.Path(cgan_augment.__file__).parent

BASE = {"_version", "errors"}
ALLOWED = {
    "_version": set(),
    "errors": set(),
    "_util": BASE,
    "data": BASE | {"_util"},
    "generators": BASE | {"_util", "data"},
    "train": BASE | {"_util", "data", "generators"},  # the adversarial loop fits the GAN families
    "mixing": BASE | {"_util", "data", "generators"},  # uses a fitted generator, never the trainer
    "report": BASE | {"_util", "data", "generators", "train", "mixing"},
    "resampler": BASE | {"_util", "data", "generators", "train", "mixing"},
    "__init__": BASE | {"_util", "data", "generators", "train", "mixing", "report", "resampler"},
}


def _module(path: pathlib.Path) -> tuple:
    """("report", "run") for report/run.py, ("report", "__init__") for report/__init__.py."""
    return path.relative_to(ROOT).with_suffix("").parts


def _imports(path: pathlib.Path) -> set:
    """The package's own modules that ``path`` imports, as paths inside the package."""
    found = set()
    package = _module(path)[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                parts = base + tuple(node.module.split(".") if node.module else ())
            elif (node.module or "").startswith("cgan_augment"):
                parts = tuple(node.module.split(".")[1:])
            else:
                continue
            for alias in node.names:  # from . import x: x is a module, or a name from the package's __init__
                sub = parts + (alias.name,)
                is_module = (ROOT.joinpath(*sub).with_suffix(".py")).exists() or ROOT.joinpath(*sub).is_dir()
                found.add(sub if is_module else (parts or ("__init__",)))
        elif isinstance(node, ast.Import):
            found |= {tuple(a.name.split(".")[1:]) for a in node.names if a.name.startswith("cgan_augment.")}
    return found


def _graph() -> dict:
    return {_module(p): _imports(p) for p in ROOT.rglob("*.py")}


def test_every_package_is_in_the_graph():
    tops = {_module(p)[0] for p in ROOT.rglob("*.py")}
    assert tops == set(ALLOWED), "add the new package to ALLOWED, with what it may import"


def test_packages_import_one_way():
    problems = [f"{'.'.join(importer)} imports {'.'.join(imported)}"
                for importer, imports in _graph().items() for imported in imports
                if imported and imported[0] != importer[0] and imported[0] not in ALLOWED[importer[0]]]
    assert not problems, "\n".join(sorted(problems))


def test_no_import_cycle_inside_a_package():
    graph = _graph()
    edges = {m: {i for i in imports if i[:1] == m[:1] and i != m and len(m) > 1} for m, imports in graph.items()}
    state = {}

    def visit(m, path):
        if state.get(m) == "done":
            return
        assert state.get(m) != "open", "import cycle: " + " -> ".join(".".join(x) for x in path + [m])
        state[m] = "open"
        for n in edges.get(m, ()):
            visit(n, path + [m])
        state[m] = "done"

    for m in edges:
        visit(m, [])


def test_the_graph_checks_can_fail():
    # mixing may not reach the trainer: the rule the DESIGN picture draws between them.
    assert "train" not in ALLOWED["mixing"] and "report" not in ALLOWED["train"] and "train" not in ALLOWED["generators"]
