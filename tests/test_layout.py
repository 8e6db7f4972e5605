"""The library's imports flow one way: each module imports only modules listed before it in LAYERS."""

import ast
import pathlib

import cgan_augment

ROOT = pathlib.Path(cgan_augment.__file__).parent

# Lowest first. A module may import the ones before it (lazily inside a function too), never after.
LAYERS = ["_version", "errors", "files", "devices", "data", "models", "losses", "diffaugment", "quality",
          "checkpoint", "images", "diagnostics", "plan", "formats", "synthetic", "export", "train", "report", "__init__"]


def _module_name(path: pathlib.Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _imports(path: pathlib.Path) -> set:
    """Names of the package's own modules that ``path`` imports (the first part after ``cgan_augment.``)."""
    found = set()
    package = path.relative_to(ROOT).parts[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[:len(package) - (node.level - 1)]) if node.level > 1 else list(package)
                parts = base + (node.module.split(".") if node.module else [])
            elif (node.module or "").startswith("cgan_augment"):
                parts = node.module.split(".")[1:]
            else:
                continue
            if parts:
                found.add(parts[0])
            else:  # from . import x: a submodule, or a name of the package itself
                found |= {a.name if (ROOT / f"{a.name}.py").exists() or (ROOT / a.name).is_dir() else "__init__"
                          for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("cgan_augment.")}
    return found


def test_every_module_has_a_layer():
    modules = {p.relative_to(ROOT).parts[0].removesuffix(".py") for p in ROOT.glob("*") if p.suffix == ".py" or p.is_dir()}
    modules.discard("__pycache__")
    assert modules == set(LAYERS), "add new modules to LAYERS"


def test_imports_flow_one_way():
    rank = {name: i for i, name in enumerate(LAYERS)}
    upward = []
    for path in ROOT.rglob("*.py"):
        top = path.relative_to(ROOT).parts[0].removesuffix(".py")
        for imported in _imports(path) - {top}:
            if imported not in rank:
                upward.append(f"{_module_name(path)} imports unknown module {imported}")
            elif rank[imported] > rank[top]:
                upward.append(f"{_module_name(path)} imports {imported}, which is above it")
    assert not upward, "\n".join(upward)
