"""Lazy re-exports for a package's `__init__` (PEP 562): a name's module loads on first use.

What keeps `import keras_initcmp` light (the driver's, the report's and `tf.distribute`'s
dependencies load only where they are used), in the manner of scientific-python's
`lazy_loader.attach`.
"""

import importlib

__all__ = ["attach"]


def attach(package, exports):
    """`(__getattr__, __dir__, __all__)` for `package` re-exporting `exports` lazily.

    Args:
        package: The package's `__name__`.
        exports: `{name: (module, attribute)}`; the module itself where `attribute` is
            `None`. The first use of a name imports its module and caches the value in
            the package's namespace.

    Example:

    >>> __getattr__, __dir__, __all__ = attach(__name__, {"fit": ("pkg.loop", "fit")})
    """
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module_name, attribute = exports[name]
        module = importlib.import_module(module_name)
        value = module if attribute is None else getattr(module, attribute)
        namespace[name] = value
        return value

    def __dir__():
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__, list(exports)
