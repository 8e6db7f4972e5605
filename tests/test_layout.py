"""The library's imports flow one way: each module imports only modules listed before it."""

import ast
import pathlib

import cgan_augment

ROOT = pathlib.Path(cgan_augment.__file__).parent

# Per package, lowest first. A module may import the ones before it (lazily inside a function too),
# never one after it. ``train`` sits above ``report``: the report never trains a generator, and
# ``pipeline`` is the one module that imports both.
LAYERS = {
    (): ["_lazy", "_version", "choices", "errors", "constraints", "dataspec", "files", "devices", "labeled", "folders", "arrays", "data", "transforms", "augmentation", "models", "losses", "diffaugment",
         "quality", "checkpoint", "images", "curves", "diagnostics", "deform", "walks", "plan", "formats", "synthetic", "sampling", "export", "report", "train",
         "pipeline", "resampler", "__init__"],
    ("report",): ["plugins", "config", "arms", "factory", "classifiers", "gains", "figures", "html", "outputs", "run",
                  "__init__"],
    ("train",): ["config", "distributed", "sampler", "maintenance", "step", "loop", "__init__"],
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


def _rank_problem(importer: tuple, imported: tuple):
    """Why ``importer`` may not import ``imported``, or None. Compared in the first package where they part."""
    depth = 0
    while depth < min(len(importer), len(imported)) - 1 and importer[depth] == imported[depth]:
        depth += 1
    order = LAYERS.get(importer[:depth])
    if order is None:
        return f"package {'.'.join(importer[:depth])} has no LAYERS entry"
    a, b = importer[depth], imported[depth] if depth < len(imported) else "__init__"
    if a == b:
        return None
    if a not in order or b not in order:
        return f"{a if a not in order else b} is not in LAYERS[{importer[:depth]}]"
    return f"imports {'.'.join(imported)}, which is above it" if order.index(b) > order.index(a) else None


def test_every_module_has_a_layer():
    for package, order in LAYERS.items():
        folder = ROOT.joinpath(*package)
        modules = {p.stem if p.suffix == ".py" else p.name for p in folder.iterdir()
                   if (p.suffix == ".py" or (p / "__init__.py").exists())}
        assert modules == set(order), f"cgan_augment/{'/'.join(package)}: add new modules to LAYERS"


def test_imports_flow_one_way():
    problems = []
    for path in ROOT.rglob("*.py"):
        for imported in _imports(path):
            why = _rank_problem(_module(path), imported)
            if why:
                problems.append(f"{'.'.join(_module(path))}: {why}")
    assert not problems, "\n".join(sorted(problems))
