"""`compare` on one device and with `strategy="data-parallel"`, in one JAX process with
two host CPU devices (the test sets `XLA_FLAGS` and `KERAS_BACKEND=jax`); prints the
records and the devices each model trained on as JSON.

Usage: python data_parallel_run.py LOGDIR
"""

import json
import sys

import jax
import keras
import numpy as np

from keras_initcmp import driver

devices = []
fit = keras.Model.fit


def watched_fit(self, *args, **kwargs):
    """`fit`, noting the devices the first kernel lives on."""
    devices.append(sorted(str(device) for device in self.weights[0].value.sharding.device_set))
    return fit(self, *args, **kwargs)


def main(logdir):
    keras.Model.fit = watched_fit
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 4)).astype("float32")
    y = (x[:, 0] * x[:, 1] > 0).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="tanh"),
                              keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    settings = dict(loss="binary_crossentropy", metrics=["accuracy"], optimizer="sgd",
                    steps=20, epochs=2, batch_size=None, probe_size=64, experiment="dp")
    data = (x[:64], y[:64], x[64:], y[64:])
    one = driver.compare(model, data, ("he", "xavier"), logdir=f"{logdir}/one", **settings)
    one_devices = list(devices)
    many = driver.compare(model, data, ("he", "xavier"), logdir=f"{logdir}/many",
                          strategy="data-parallel", **settings)
    print(json.dumps({"jax_devices": len(jax.devices()), "one": one, "many": many,
                      "one_devices": one_devices, "many_devices": devices[len(one_devices):]}))


if __name__ == "__main__":
    main(sys.argv[1])
