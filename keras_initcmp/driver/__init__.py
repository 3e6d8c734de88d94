"""The comparison driver: `compare` and `probe`, each a sweep of runs (schemes × seeds).

| module | its one job |
| --- | --- |
| `entry` | the public `compare` and `probe`: arguments checked and resolved into a task |
| `sweep` | schemes × seeds: resume from the store, run what is left here or in workers |
| `workers` | a run in a worker process (`--jobs`, `--dask`): records and files back to the driver |
| `tasks` | one run: `TrainTask` (train a fresh net) and `ProbeTask` (forward only) |
| `shared_runs` | a sweep's training runs on one shared model and one compiled loop |
| `inputs` | the probe's cached random input |
| `progress` | the live progress line of a sweep |
| `summary` | plain-text summary tables of result records |
"""

from keras_initcmp.driver.entry import (COMPARE_FIELDS, DATA_SCHEMES, DEFAULT_SCHEMES,
                                        PROBE_FIELDS, PROBE_SIZES, compare, probe)

__all__ = ["compare", "probe", "DEFAULT_SCHEMES", "DATA_SCHEMES", "COMPARE_FIELDS",
           "PROBE_FIELDS", "PROBE_SIZES"]
