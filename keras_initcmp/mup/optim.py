"""Optimizers with per-variable learning-rate multipliers: μP's `MuAdam`, `MuAdamW`, `MuSGD`.

Each is the Keras optimizer of the same name whose `update_step` multiplies
`learning_rate` by the variable's multiplier, `multipliers[variable.path]` (1 for a
variable not named), so every backend's training loop, `fit`, schedules and
`model.save` / `keras.models.load_model` work unchanged: the multipliers are part of
the optimizer's config.

μP's multipliers (`lr_multipliers`) from each variable's base shape, `m_in`, `m_out` the
fan-in's and fan-out's width multipliers (width over base width):

| kind | Adam, AdamW | SGD |
| --- | --- | --- |
| input-like (and biases, norms) | 1 | `m_out` |
| hidden | `1 / m_in` | `m_out / m_in` |
| output-like, plain readout (multiplier folded in) | `1 / m_in` | `1 / m_in` |
| output-like, `MuReadout` | 1 | `m_in` |

times `a` (Adam) or `a²` (SGD) for a query projection (`a = attention_scale`, the
folded `√(d_base/d)`). These are `microsoft/mup`'s `MuAdam` / `MuSGD` groups; a folded
multiplier `a` on a weight `W = a V` scales Adam's step on `W` by `a` and SGD's by `a²`.
AdamW's decoupled decay, `lr · wd · W` with the global `lr`, equals mup's
`(lr / m) · (wd · m) · W`, so it needs no multiplier of its own.

Example:

>>> optimizer = mup.MuAdam(1e-3, multipliers=mup.lr_multipliers(shapes, "adam"))
>>> model.compile(optimizer=optimizer, loss="mse")

Paper: G. Yang, E. J. Hu et al., "Tensor Programs V", 2022 (arXiv 2203.03466), Table 3.
"""

import keras

__all__ = ["MuAdam", "MuAdamW", "MuSGD", "lr_multipliers", "optimizer", "OPTIMIZERS"]


def lr_multipliers(shapes, optimizer="adam"):
    """`{path: multiplier}` of μP's learning rates (the table above), 1s left out.

    Args:
        shapes: `keras_initcmp.mup.base_shapes(...)`.
        optimizer: `"adam"` (also AdamW and other entrywise-normalized optimizers) or
            `"sgd"` (default `"adam"`).
    """
    if optimizer not in ("adam", "adamw", "sgd"):
        raise ValueError(f"Argument `optimizer` must be one of ('adam', 'adamw', 'sgd'). "
                         f"Received: optimizer={optimizer!r}")
    adam = optimizer != "sgd"
    multipliers = {}
    for path, shape in shapes.items():
        if not shape.trainable:  # no optimizer sees it (BatchNorm's moving statistics)
            continue
        m_in, m_out = shape.fan_in_mult, shape.fan_out_mult
        if shape.kind == "hidden":
            factor = 1 / m_in if adam else m_out / m_in
        elif shape.kind == "output":
            factor = (1.0 if adam else m_in) if shape.readout else 1 / m_in
        elif shape.kind == "input":
            factor = 1.0 if adam else m_out
        else:
            factor = 1.0
        factor *= shape.attention_scale ** (1 if adam else 2)
        if factor != 1.0:
            multipliers[path] = factor
    return multipliers


class _PerVariableRate:
    """The mixin: `learning_rate × multipliers[variable.path]` in every `update_step`."""

    def __init__(self, *args, multipliers=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.multipliers = _checked(multipliers)
        self._rates = {}

    def build(self, variables):
        unknown = set(self.multipliers) - {variable.path for variable in variables}
        if unknown:
            raise ValueError(f"Argument `multipliers` must name variables of the model "
                             f"being trained. Received unknown paths {sorted(unknown)[:5]}")
        tensorflow = keras.backend.backend() == "tensorflow"
        for variable in variables:
            rate = self.multipliers.get(variable.path, 1.0)
            self._rates[id(variable)] = rate
            if tensorflow:  # TensorFlow's update loop passes the tf.Variable inside
                self._rates[id(variable.value)] = rate
        super().build(variables)

    def update_step(self, gradient, variable, learning_rate):
        rate = self._rates.get(id(variable))
        if rate is None:
            rate = self.multipliers.get(getattr(variable, "path", None), 1.0)
        if rate != 1.0:
            learning_rate = keras.ops.multiply(learning_rate, rate)
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return {**super().get_config(), "multipliers": dict(self.multipliers)}


def _checked(multipliers):
    multipliers = {} if multipliers is None else multipliers
    if not isinstance(multipliers, dict) or not all(
            isinstance(path, str) and isinstance(value, (int, float))
            and not isinstance(value, bool) and value > 0
            for path, value in multipliers.items()):
        raise ValueError(f"Argument `multipliers` must be a dict of variable paths to "
                         f"positive numbers, or None. Received: multipliers={multipliers!r:.200}")
    return {path: float(value) for path, value in multipliers.items()}


@keras.saving.register_keras_serializable(package="keras_initcmp")
class MuAdam(_PerVariableRate, keras.optimizers.Adam):
    """`keras.optimizers.Adam` with per-variable learning-rate `multipliers` (`{path: float}`)."""


@keras.saving.register_keras_serializable(package="keras_initcmp")
class MuAdamW(_PerVariableRate, keras.optimizers.AdamW):
    """`keras.optimizers.AdamW` with per-variable learning-rate `multipliers` (`{path: float}`)."""


@keras.saving.register_keras_serializable(package="keras_initcmp")
class MuSGD(_PerVariableRate, keras.optimizers.SGD):
    """`keras.optimizers.SGD` with per-variable learning-rate `multipliers` (`{path: float}`)."""


OPTIMIZERS = {"adam": (keras.optimizers.Adam, MuAdam), "adamw": (keras.optimizers.AdamW, MuAdamW),
              "sgd": (keras.optimizers.SGD, MuSGD)}
"""Optimizer names: `(SP class, μP class)`."""


def optimizer(name, learning_rate, shapes=None, **kwargs):
    """The optimizer `name` (`"adam"`, `"adamw"`, `"sgd"`): plain Keras for `shapes=None`
    (SP), else its μP form with `lr_multipliers(shapes, name)`.

    Example:

    >>> mup.optimizer("adam", 1e-2, shapes)
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"Argument `optimizer` must be one of {tuple(OPTIMIZERS)}. "
                         f"Received: optimizer={name!r}")
    plain, scaled = OPTIMIZERS[name]
    if shapes is None:
        return plain(learning_rate=learning_rate, **kwargs)
    return scaled(learning_rate=learning_rate, multipliers=lr_multipliers(shapes, name),
                  **kwargs)
