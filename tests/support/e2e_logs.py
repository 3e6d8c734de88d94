"""The tensorboard end-to-end test's logs: two tiny compare experiments and a probe.

Imported by tests/tensorboard/test_tensorboard_e2e.py (TensorFlow backend, in its process), and
run as a script under another backend with TensorFlow unimportable, so that the same
server and browser checks read that backend's files:

    KERAS_BACKEND=jax python e2e_logs.py LOGDIR    # prints the records as JSON
"""

import json
import sys

if __name__ == "__main__":
    sys.modules["tensorflow"] = None  # as if not installed

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_initcmp import driver  # noqa: E402

# Tiny on purpose: the point is the path from event files to the screen, not training.
LAYERS = {"h1": 8, "h2": 4, "out": 1}  # compare net: layer name -> units
SAMPLES, EPOCHS, STEPS = 48, 3, 15
SCHEMES, SEEDS = ("zeros", "he"), 2
PROBE_SIZES, PROBE_ROWS = (20, 12, 6), 100  # probe: input width, layer widths; histogram rows
PROBE_LAYERS = {f"layer_{index}": width for index, width in enumerate(PROBE_SIZES[1:], start=1)}
FINAL_METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")


def model():
    return keras.Sequential([keras.Input((2,))] + [
        keras.layers.Dense(units, activation="sigmoid" if name == "out" else "tanh", name=name)
        for name, units in LAYERS.items()])


def make_logs(logdir):
    """Writes the experiments; returns `{experiment: results.json records}`."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(SAMPLES, 2)).astype("float32")
    y = (x[:, 0] * x[:, 1] > 0).astype("float32")
    data = (x, y, x[:16], y[:16])
    settings = dict(loss="binary_crossentropy", metrics=["accuracy"], batch_size=None)
    return {
        "tiny": driver.compare(model(), data, SCHEMES, SEEDS, experiment="tiny", logdir=logdir,
                               epochs=EPOCHS, steps=STEPS, **settings),
        # A second experiment with a scheme and seed in common with the first.
        "tiny-b": driver.compare(model(), data, ("he",), 1, experiment="tiny-b",
                                 logdir=logdir, epochs=1, steps=5, **settings),
        "probe-tanh": driver.probe(("random", "xavier"), 1, sizes=PROBE_SIZES,
                                   activation="tanh", samples=300, batch_size=100,
                                   histogram_samples=PROBE_ROWS, logdir=logdir),
    }



if __name__ == "__main__":
    print(json.dumps(make_logs(sys.argv[1])))
