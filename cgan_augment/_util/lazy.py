"""PEP 562 lazy attributes for the packages' ``__init__`` files: a public name is imported from
its home module on first use, so importing a package (and ``cgan-augment --help``) loads no torch.

This module imports nothing of the library and nothing heavy.
"""

from importlib import import_module


def lazy_exports(package: str, namespace: dict, exports: dict):
    """``(__getattr__, __dir__)`` for the package ``package`` whose globals are ``namespace``.

    A name in ``exports`` (name -> home module, relative to the package) is imported from that
    module on first use; any other name is imported as a submodule (``package.name``) or raises
    AttributeError. What is found is stored in ``namespace``, so each name is looked up once.
    """

    def __getattr__(name: str):
        if name in exports:
            value = getattr(import_module(f".{exports[name]}", package), name)
        else:
            try:
                value = import_module(f".{name}", package)  # a submodule, e.g. cgan_augment.report
            except ModuleNotFoundError as e:
                if e.name != f"{package}.{name}":
                    raise
                raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        namespace[name] = value
        return value

    def __dir__():
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
