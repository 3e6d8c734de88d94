"""Scaling out: one run across devices (`tf.distribute`, `keras.distribution`), many runs on a Dask cluster.

| module | its one job |
| --- | --- |
| `strategies` | which `tf.distribute` strategy, who is chief, and which training path it takes |
| `custom_loop` | `custom_fit` / `custom_evaluate`: the loop where Keras' own `fit` fails |
| `data_parallel` | `--strategy data-parallel`: `keras.distribution.DataParallel` on JAX, `MirroredStrategy` on TensorFlow |
| `dask_cluster` | a sweep's runs as tasks on a Dask distributed cluster (`dask=`, `--dask`) |

Re-exported lazily: `tf.distribute` needs TensorFlow, which `import
keras_initcmp.distributed` must not load under JAX or PyTorch.
"""

from keras_initcmp.lazy import attach

_STRATEGIES = "keras_initcmp.distributed.strategies"
_LOOP = "keras_initcmp.distributed.custom_loop"

__getattr__, __dir__, __all__ = attach(__name__, {
    **{name: (_STRATEGIES, name) for name in ("STRATEGIES", "get_strategy", "strategy_name",
                                              "is_chief", "chief_flags", "uses_custom_loop",
                                              "fit", "evaluate")},
    **{name: (_LOOP, name) for name in ("custom_fit", "custom_evaluate")},
})
