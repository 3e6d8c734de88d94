"""One worker of the two-worker MultiWorkerMirroredStrategy tests, and the one-device twin.

`python distributed_worker.py FOLDER INDEX COMPARE-ARGS...`, with `TF_CONFIG` set:
first the CLI, `keras-initcmp COMPARE-ARGS --strategy multiworker` into
`FOLDER/logs` (schemes "zeros", then "zeros,he": a resumed sweep), which creates the
strategy at startup; then `train` under the same strategy into `FOLDER/worker-INDEX`.
Prints `train`'s result as one JSON line. In the test process,
`train(tf.distribute.get_strategy(), log_dir)` trains the same net on one device
(where `distributed.fit` is Keras' own `fit`).
"""

import functools
import json
import os
import sys

import numpy as np

X = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
Y = (X[:, 0] * X[:, 1] > 0).astype(np.float32)
PROBE = X[:20]
EPOCHS, STEPS_PER_EPOCH, BATCH = 2, 4, 16  # Keras runs whole executions: 4 = 2 x 2


def train(strategy, log_dir, try_fit=False, keras_fit=False, validation_batch=25):
    """Train the test net in `strategy`; returns what the test compares.

    With `try_fit`, first try Keras' own `fit` on a copy (and another dataset object,
    so that the training data's iterators, and with them its shuffle order, stay the
    same); with `keras_fit`, train with Keras' own `fit` whatever the strategy.
    """
    import keras
    import tensorflow as tf
    from keras_initcmp import ActivationHistograms, activation_stats, distributed
    from keras_initcmp.initializers import He

    def net(steps_per_execution):
        model = keras.Sequential([
            keras.Input((4,)),
            keras.layers.Dense(8, activation="relu", kernel_initializer=He(seed=1), name="hidden"),
            keras.layers.Dense(1, activation="sigmoid", name="out"),
        ])
        model.compile(keras.optimizers.SGD(0.1, momentum=0.5), "binary_crossentropy",
                      metrics=["accuracy"], steps_per_execution=steps_per_execution)
        return model

    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = net(1 if keras_fit else 2)
    fit_error = None
    if try_fit:
        with strategy.scope():
            other = net(2)
        try:
            other.fit(X, Y, batch_size=BATCH, epochs=1, verbose=0)
        except Exception as error:  # the upstream failure, recorded for the test
            fit_error = f"{type(error).__name__}: {str(error)[:60]}"
    # 60 samples in batches of 16: every fourth batch has 12. Validation in batches of
    # 25 (the last of 10): 13 and 12 samples per replica on two.
    data = (tf.data.Dataset.from_tensor_slices((X, Y)).shuffle(60, seed=2)
            .batch(BATCH).repeat())
    train_with = (functools.partial(model.fit, shuffle=False) if keras_fit
                  else functools.partial(distributed.fit, model))
    history = train_with(
        data, epochs=EPOCHS, steps_per_epoch=STEPS_PER_EPOCH, verbose=0,
        validation_data=tf.data.Dataset.from_tensor_slices((X, Y)).batch(validation_batch),
        callbacks=[ActivationHistograms(log_dir, PROBE, probe_labels=Y[:20])])
    return {
        "chief": distributed.is_chief(strategy),
        "fit_error": fit_error,
        "custom_loop": distributed.uses_custom_loop(model),
        "replicas": strategy.num_replicas_in_sync,
        "history": history.history,
        "stats": activation_stats(model, PROBE),
        "weights": [w.tolist() for w in model.get_weights()],
    }


if __name__ == "__main__":
    folder, index, compare = sys.argv[1], sys.argv[2], sys.argv[3:]
    from keras_initcmp import cli, distributed

    # --optimizer: checking it creates variables, so the CLI must create the strategy
    # (configure the collective ops) before parsing.
    command = compare + ["--strategy", "multiworker", "--optimizer", "sgd",
                         "--logdir", os.path.join(folder, "logs")]
    assert cli.main(["zeros" if part == "zeros,he" else part for part in command]) == 0
    # Resumed: the chief skips zeros, and so does the other worker, whose folder is empty.
    assert cli.main(command) == 0
    result = train(distributed.get_strategy("multiworker"),
                   os.path.join(folder, f"worker-{index}"), try_fit=True)
    print(json.dumps(result), flush=True)
