"""Weight-initialization schemes as Keras 3 initializers, exact to their papers.

Every scheme is a thin preset on a public Keras initializer (`VarianceScaling`,
`RandomNormal`, `Orthogonal`, `Zeros`), registered as serializable under the package
`keras_initcmp` so that a saved `.keras` model reloads after `import keras_initcmp`.
Split by kind, as Keras' own `keras.initializers` are:

| module | what it holds |
| --- | --- |
| `base` | registration, the float-only guard, `MODES`, `DISTRIBUTIONS`, seed derivation |
| `constant` | `Zeros` |
| `variance` | `ScaledNormal`, `Xavier`, `He` |
| `orthogonal` | `Orthogonal`, `DeltaOrthogonal` |
| `framework_defaults` | `PyTorchDefault` |
| `gains` | `calculate_gain` (PyTorch's table) |
| `lookup` | `SCHEMES` and `get`: the scheme registry's names as initializers |

Example:

>>> import keras, keras_initcmp
>>> layer = keras.layers.Dense(64, kernel_initializer=keras_initcmp.initializers.He())
"""

from keras_initcmp.initializers.base import DISTRIBUTIONS, MODES, derive_seed
from keras_initcmp.initializers.constant import Zeros
from keras_initcmp.initializers.framework_defaults import PyTorchDefault
from keras_initcmp.initializers.gains import calculate_gain
from keras_initcmp.initializers.lookup import SCHEMES, get
from keras_initcmp.initializers.orthogonal import DeltaOrthogonal, Orthogonal
from keras_initcmp.initializers.variance import He, ScaledNormal, Xavier

__all__ = ["Zeros", "ScaledNormal", "Xavier", "He", "Orthogonal", "PyTorchDefault",
           "DeltaOrthogonal", "SCHEMES", "get", "calculate_gain", "MODES", "DISTRIBUTIONS",
           "derive_seed"]
