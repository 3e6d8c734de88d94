"""Re-initialization of a model's kernels: `redraw` (`reinitialize`, a scheme's fresh
kernels and zero biases) and `unit_variance` (`lsuv`, Mishkin & Matas 2015). Re-exported
lazily (`lsuv` measures through the backend).
"""

from keras_initcmp.lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "reinitialize": ("keras_initcmp.reinit.redraw", "reinitialize"),
    "redraw_kernels": ("keras_initcmp.reinit.redraw", "redraw_kernels"),
    "lsuv": ("keras_initcmp.reinit.unit_variance", "lsuv"),
})
