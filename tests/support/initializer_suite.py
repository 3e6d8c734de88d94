"""Run under KERAS_BACKEND=jax or torch: every scheme's draws and `lsuv`, one JSON line.

`tests/backend/test_initializers_backends.py` starts this once per backend (the backend
is chosen at import) and checks what it prints against the papers' variances and an
independent NumPy forward pass. Only summaries travel: each draw's sample variance and
size (NumPy's, not the backend's), orthogonal Gram matrices' largest deviation from the
identity, and the small LSUV model's weights.
Usage: python initializer_suite.py
"""

import json
import sys

if __name__ == "__main__":
    sys.modules["tensorflow"] = None  # as if not installed: the backend alone draws

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_initcmp  # noqa: E402
from keras_initcmp import initializers  # noqa: E402

DENSE = (512, 256)  # fan_in 512, fan_out 256: 131,072 draws
CONV = (3, 3, 64, 128)  # fan_in 576: the receptive field counts
LSUV_DATA = dict(size=(200, 16), scale=3.0, shift=1.0)  # not standardized: LSUV must fix it
LSUV_ACTIVATIONS = ("tanh", "relu", "linear")


def lsuv_model():
    return keras.Sequential([keras.Input((16,))] + [
        keras.layers.Dense(32, activation=activation, name=f"d{index}")
        for index, activation in enumerate(LSUV_ACTIVATIONS)])


def lsuv_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=LSUV_DATA["size"]) * LSUV_DATA["scale"] + LSUV_DATA["shift"]
    return x.astype("float32")


def gram_deviation(matrix):
    """Largest |entry| of the Gram matrix of the shorter side minus the identity."""
    matrix = np.asarray(matrix, np.float64)
    gram = matrix.T @ matrix if matrix.shape[0] >= matrix.shape[1] else matrix @ matrix.T
    return float(np.abs(gram - np.eye(gram.shape[0])).max())


def main():
    out = {"backend": keras.backend.backend(), "draws": {}, "gram": {}}
    for name in initializers.SCHEMES:
        values = keras.ops.convert_to_numpy(initializers.get(name, seed=3)(DENSE)).astype(np.float64)
        out["draws"][name] = {"var": float(values.var()), "size": values.size,
                              "max_abs": float(np.abs(values).max()), "mean": float(values.mean())}
        out["gram"][name] = gram_deviation(values)
    conv = keras.ops.convert_to_numpy(initializers.He(seed=4)(CONV)).astype(np.float64)
    out["draws"]["he-conv"] = {"var": float(conv.var()), "size": conv.size}
    delta = keras.ops.convert_to_numpy(initializers.DeltaOrthogonal(seed=5)(CONV)).astype(np.float64)
    out["delta_centre_gram"] = gram_deviation(delta[1, 1])
    delta[1, 1] = 0
    out["delta_off_centre_max"] = float(np.abs(delta).max())

    x = lsuv_data()
    model = lsuv_model()
    out["lsuv_record"] = keras_initcmp.lsuv(model, x, tol=0.01, seed=0)
    out["lsuv_weights"] = [w.tolist() for w in model.get_weights()]
    # The neighbouring scheme, the negative control: orthogonal kernels, not rescaled.
    orthogonal = keras_initcmp.reinitialize(lsuv_model(), "orthogonal", seed=0)
    out["orthogonal_weights"] = [w.tolist() for w in orthogonal.get_weights()]
    out["tensorflow_imported"] = any(module is not None and name.split(".")[0] == "tensorflow"
                                     for name, module in sys.modules.items())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
