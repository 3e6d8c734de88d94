"""Run under KERAS_BACKEND=<backend>: each backend's `layer_summary` on fixed arrays; prints JSON.

`tests/measurement/test_reduction.py` starts this in a subprocess per backend (the
backend is chosen at import) and compares what it prints with NumPy on the same
arrays. Usage: python reduction_suite.py
"""

import gc
import json
import os
import weakref

import keras
import numpy as np

from keras_initcmp.measurement.recording import LayerRecorder, select_layers
from keras_initcmp.measurement.stats import combine_moments, summary_function, _EMPTY_MOMENTS
from keras_initcmp import backend

BINS = 30
CAP = 20_000


def arrays():
    """`{name: float32 array}`: the layers a summary must get right."""
    rng = np.random.default_rng(0)
    relu = np.maximum(rng.normal(size=(64, 6, 6, 16)), 0).astype(np.float32)
    relu[..., 3] = 0.0  # dead units
    relu[..., 7] = 0.0
    relu[..., 5] = 0.0
    relu[0, 0, 0, 5], relu[9, 1, 2, 5] = 1.5, -1.5  # alive, though its values add up to 0
    nonfinite = rng.normal(size=(50, 8)).astype(np.float32)
    nonfinite[1, 2], nonfinite[4, 4], nonfinite[7, 0] = np.nan, np.inf, -np.inf
    return {
        "relu_dead": relu,
        "tanh": np.tanh(2 * rng.normal(size=(300, 40))).astype(np.float32),
        "nonfinite": nonfinite,
        "all_nonfinite": np.full((4, 3), np.nan, np.float32),
        "all_equal": np.full((20, 5), 0.5, np.float32),
        "offset": (1000 + 0.01 * rng.normal(size=(2000, 4))).astype(np.float32),
        "vector": rng.normal(size=(37,)).astype(np.float32),
        "drift": (np.linspace(-3, 3, 400_000) + rng.normal(size=400_000)).astype(
            np.float32).reshape(-1, 8),
    }


def summarize(tensor, bins=BINS, cap=None):
    result = summary_function(bins, cap)(tensor)
    return {name: keras.ops.convert_to_numpy(value).tolist() for name, value in result.items()}


def main():
    if os.environ.get("XLA_FROM"):  # TensorFlow: the XLA programs, on every size
        from keras_initcmp.backend import tensorflow
        tensorflow.XLA_FROM = tensorflow.XLA_INDEX_FROM = int(os.environ["XLA_FROM"])
    out = {"backend": backend.name(), "accumulator": backend.get().ACCUMULATOR,
           "summaries": {}, "low_precision": {}}
    data = arrays()
    for name, array in data.items():
        out["summaries"][name] = summarize(keras.ops.convert_to_tensor(array),
                                           cap=CAP if name == "drift" else None)
    for dtype in ("float16", "bfloat16"):
        tensor = keras.ops.cast(keras.ops.convert_to_tensor(data["tanh"] * 3), dtype)
        out["low_precision"][dtype] = {
            "values": keras.ops.convert_to_numpy(keras.ops.cast(tensor, "float32")).tolist(),
            "summary": summarize(tensor)}
    # Several batches combined as `activation_stats` combines them.
    moments, alive = _EMPTY_MOMENTS.copy(), False
    for batch in np.array_split(data["relu_dead"], 3):
        summary = summarize(keras.ops.convert_to_tensor(batch), bins=None)
        moments = combine_moments(moments, np.asarray(summary["moments"]))
        alive = np.logical_or(alive, summary["alive"])
    out["batches"] = {"moments": moments.tolist(), "alive": alive.tolist()}
    out["released"] = outputs_released()
    print(json.dumps(out, allow_nan=True))


def outputs_released():
    """Whether a recording pass with a summary keeps any layer's full output alive after
    the pass (PyTorch runs eagerly, so the outputs are real tensors to watch)."""
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(512, activation="relu"),
                              keras.layers.Dense(512, activation="relu"), keras.layers.Dense(3)])
    watched, summary = [], summary_function(BINS, None)

    def reduce(tensor):
        if backend.name() == "torch":
            watched.append(weakref.ref(tensor))
        return summary(tensor)

    recorder = LayerRecorder(select_layers(model), reduce=reduce)
    kept = recorder.run(model, keras.ops.ones((256, 64)))[0]  # the prediction not held
    gc.collect()
    small = all(np.size(keras.ops.convert_to_numpy(value)) <= 3 * BINS + 512
                for result in kept.values() for value in result.values())
    return {"watched": len(watched), "alive_after": sum(ref() is not None for ref in watched),
            "kept_only_summaries": bool(small)}


if __name__ == "__main__":
    main()
