"""Run under KERAS_BACKEND=jax or torch with `tensorflow` unimportable; prints one JSON object.

`tests/backend/test_backends.py` starts this in a subprocess per backend (the backend is chosen
at import) and compares what it prints with NumPy and with the TensorFlow backend.
Usage: python backend_suite.py OUTPUT_FOLDER
"""

import json
import sys

if __name__ == "__main__":
    # As if TensorFlow were not installed: `import tensorflow` raises ImportError and
    # `importlib.util.find_spec("tensorflow")` answers None (what PyTorch asks). Only
    # when run as a script: tests/backend/test_backends.py imports the fixtures below.
    sys.modules["tensorflow"] = None

import numpy as np  # noqa: E402
import keras  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import TENSORS, EventAccumulator  # noqa: E402
from tensorboard.util import tensor_util  # noqa: E402

import keras_initcmp  # noqa: E402
from keras_initcmp import experiments  # noqa: E402
from keras_initcmp.driver import shared_runs

RNG = np.random.default_rng(0)
X = RNG.normal(size=(64, 4)).astype(np.float32)
Y = (X[:, 0] * X[:, 1] > 0).astype(np.float32)[:, None]


def fixed_model():
    """The same weights on every backend, set from NumPy."""
    model = keras.Sequential([keras.Input((4,)),
                              keras.layers.Dense(8, activation="relu", name="hidden"),
                              keras.layers.Dense(1, activation="sigmoid", name="out")])
    rng = np.random.default_rng(1)
    model.set_weights([rng.normal(size=w.shape).astype(np.float32) * 0.7
                       for w in model.get_weights()])
    model.compile(keras.optimizers.SGD(0.1), "binary_crossentropy")
    return model


def read_scalars(folder):
    accumulator = EventAccumulator(folder, size_guidance={TENSORS: 0})
    accumulator.Reload()
    return {tag: {str(e.step): tensor_util.make_ndarray(e.tensor_proto).tolist()
                  for e in accumulator.Tensors(tag)}
            for tag in accumulator.Tags()["tensors"]}


def main(folder):
    out = {"backend": keras.backend.backend()}
    model = fixed_model()
    out["weights"] = [w.tolist() for w in model.get_weights()]
    out["stats"] = keras_initcmp.activation_stats(model, X)
    callback = keras_initcmp.ActivationHistograms(f"{folder}/fit", X[:32], probe_labels=Y[:32],
                                                  weights=True)
    model.fit(X, Y, epochs=2, batch_size=16, verbose=0, callbacks=[callback])
    out["events"] = read_scalars(f"{folder}/fit")
    out["probe"] = keras_initcmp.probe(("xavier", "he"), sizes=(100, 80, 60), activation="relu",
                                       samples=500, batch_size=250, histogram_samples=200,
                                       logdir=f"{folder}/logs")
    circles = experiments.get("circles")
    shared_fits, fit = [], shared_runs.SharedModel.fit
    shared_runs.SharedModel.fit = lambda self, *args: shared_fits.append(1) or fit(self, *args)

    def compare(logdir):
        return keras_initcmp.compare(
            circles.build_model(), circles.load_data(), ("zeros", "he"), experiment="circles",
            logdir=logdir, **{**circles.training, "steps": 3000, "epochs": 3})

    out["compare"] = compare(f"{folder}/logs")
    out["shared_fits"] = len(shared_fits)
    if shared_fits:  # the same sweep with `fit` per run, for comparison
        shared_runs.reason_not_shared = lambda task, net: "per-run, for the test"
        out["compare_per_run"] = compare(f"{folder}/per-run")
    out["tensorflow_imported"] = any(module is not None and name.split(".")[0] == "tensorflow"
                                     for name, module in sys.modules.items())
    print(json.dumps(out, allow_nan=True, default=float))


if __name__ == "__main__":
    main(sys.argv[1])
