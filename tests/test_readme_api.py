"""The documented API is the exported API: every name the README's Python blocks import from
``cgan_augment`` (and every name its text says is in ``cgan_augment``) is in ``__all__`` and imports."""

import ast
import re
from pathlib import Path

import cgan_augment

README = Path(__file__).resolve().parents[1] / "README.md"


def _imported_names() -> set:
    names = set()
    for block in re.findall(r"```python\n(.*?)```", README.read_text(), re.S):
        for node in ast.walk(ast.parse(block)):
            if isinstance(node, ast.ImportFrom) and node.module == "cgan_augment":
                names |= {a.name for a in node.names}
    return names


def test_every_name_the_readme_imports_is_exported():
    names = _imported_names()
    assert {"SyntheticDataset", "class_counts", "run_report", "register_arm"} <= names  # the parse found the blocks
    missing = sorted(n for n in names if n not in cgan_augment.__all__)
    assert not missing, f"README imports {missing} from cgan_augment, but __all__ lacks them"
    for name in names:
        assert getattr(cgan_augment, name) is not None


def test_names_the_readme_text_places_in_cgan_augment_are_exported():
    text = README.read_text()
    for name in ("by_class_size", "latent_walk", "latent_grid", "write_walk", "class_counts"):
        assert f"`{name}(" in text or f"`{name}`" in text, name
    for name in ("class_counts", "by_class_size", "latent_walk", "latent_grid", "write_walk", "DeformConfig", "fit_generator", "register_family",
                 "Arm", "register_arm"):
        assert name in cgan_augment.__all__ and callable(getattr(cgan_augment, name)), name


def test_all_holds_only_importable_names():
    for name in cgan_augment.__all__:
        getattr(cgan_augment, name)
