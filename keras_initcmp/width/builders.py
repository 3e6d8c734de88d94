"""Where a coordinate check's `build(width)` comes from: a callable, a built-in width
experiment's name, or a user's `module:function` (as `compare --model` takes), where
`module` is a dotted module name on `sys.path` or a path to a `.py` file.
"""

import importlib
import importlib.util
import os

__all__ = ["load_builder"]


def load_builder(build):
    """The `width -> model` function `build` names.

    Raises:
        ValueError: `build` is not a callable, a built-in name or a loadable
            `module:function` (one line, naming what failed).
    """
    if callable(build):
        return build
    if not isinstance(build, str) or not build:
        raise ValueError(f"Argument `build` must be a function of the width, a built-in width "
                         f"experiment or 'module:function'. Received: build={build!r:.200}")
    if ":" not in build:
        from keras_initcmp.experiments.width import get_width_experiment
        return get_width_experiment(build).build
    module_name, _, function_name = build.rpartition(":")
    try:
        if module_name.endswith(".py"):
            if not os.path.isfile(module_name):
                raise FileNotFoundError(f"no such file {module_name!r}")
            spec = importlib.util.spec_from_file_location(
                os.path.splitext(os.path.basename(module_name))[0], module_name)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
        function = getattr(module, function_name)
    except Exception as error:  # the user's code may raise anything; report it in one line
        first = str(error).strip().splitlines()
        raise ValueError(f"cannot load build {build!r}: {type(error).__name__}: "
                         f"{first[0] if first else ''}") from error
    if not callable(function):
        raise ValueError(f"cannot load build {build!r}: {function_name} is not a function")
    return function
