"""μP, the maximal update parametrization, for Keras 3 models: `keras_initcmp.mup`.

Under the standard parametrization (SP: every scheme of the registry) the best
learning rate moves as a model widens, and activations grow with width after a few
steps of training. μP (Yang et al. 2022) scales each layer's initialization and
learning rate with width so that every layer's activations and updates keep their size,
and hyperparameters tuned at a narrow width transfer to a wide one. It equals SP at the
base width. The modules are named as in `microsoft/mup`:

- `shape`: `base_shapes(model, base, delta)`, each variable's kind (input-like,
  hidden, output-like, scalar-like) and width multipliers;
- `init`: `initialize(model, shapes, scheme, seed)`, a registry scheme's draws times
  μP's factors;
- `layer`: `MuReadout`, a Dense readout with the output multiplier `1/width_mult`;
- `optim`: `MuAdam`, `MuAdamW`, `MuSGD`, Keras optimizers with per-variable
  learning-rate multipliers, and `lr_multipliers(shapes, optimizer)`.

Example:

>>> from keras_initcmp import mup
>>> shapes = mup.base_shapes(build(1024), build(64), delta=build(128))
>>> mup.initialize(model, shapes, scheme="he", seed=0)
>>> model.compile(optimizer=mup.optimizer("adam", 1e-2, shapes), loss=...)

Paper: G. Yang, E. J. Hu et al., "Tensor Programs V: Tuning Large Neural Networks via
Zero-Shot Hyperparameter Transfer", 2022 (arXiv 2203.03466).
"""

from keras_initcmp.mup.init import MUP_SCHEMES, check_scheme, init_multipliers, initialize
from keras_initcmp.mup.layer import MuReadout
from keras_initcmp.mup.optim import MuAdam, MuAdamW, MuSGD, lr_multipliers, optimizer
from keras_initcmp.mup.shape import KINDS, VariableShape, base_shapes

__all__ = ["base_shapes", "VariableShape", "KINDS", "initialize", "init_multipliers",
           "check_scheme", "MUP_SCHEMES", "MuReadout", "MuAdam", "MuAdamW", "MuSGD",
           "lr_multipliers", "optimizer"]
