"""The store: an experiment on disk, `<logdir>/<experiment>/`, and the one place that
knows its layout.

```
<logdir>/<experiment>/
    settings.json                     the sweep's settings: what makes two sweeps comparable
    results.json, results.csv         one flat record per run (probe: per run and layer)
    <scheme>/seed-<k>/                one finished TensorBoard run per scheme and seed
    <parametrization>/width-<w>/seed-<k>/   a coordinate check's runs (`Experiment(group=...)`)
    <scheme>/.seed-<k>.<session>.<x>/ a run being written; renamed to seed-<k> when finished
    events.out.tfevents.*<suffix>     root event files: HParams config, layout, report images
    .lock, .sessions/                 advisory locks (what several processes share)
```

Several processes may sweep into one experiment at once (disjoint schemes, or the same
ones: a run that another live sweep has started or finished is not started twice).
Every change to `results.json`, `results.csv` and `settings.json` is a read-merge-write
under an advisory lock (`fcntl.flock` on `.lock`), written to a temporary file and
renamed into place, so a reader sees the old or the new file, never half of one, and a
process killed at any moment loses at most its own unfinished work.

A run is written into a hidden sibling folder and renamed to `seed-<k>/` once it is
finished, just before its records are added: a `seed-<k>/` folder is always one whole
attempt, and an interrupted attempt leaves only a hidden folder, removed by the next
sweep once its writer is gone (each open `Experiment` holds a lock in `.sessions/`).

| module | its one job |
| --- | --- |
| `experiment` | `Experiment`: open (settings check, resume), start, finish and abandon runs |
| `run_folders` | the run folders below the scheme folders: names, leftovers, removal |
| `records` | the results format: `results.json` / `results.csv` records, checked and merged |
| `settings` | `settings.json`: what makes two sweeps comparable, and the checks |
| `files` | advisory locks and all-or-nothing writes |

Standard library and NumPy only: no TensorFlow, no Keras; imported relatively, so that
the store loads without the package's `__init__` (which loads Keras).
"""

from .experiment import (COMPARE_FIELDS, HPARAMS_SUFFIX, LAYOUT_SUFFIX,
                         PROBE_FIELDS, REPORT_SUFFIX, RESULTS_CSV,
                         RESULTS_JSON, SETTINGS_JSON, Experiment, fields_for)

__all__ = ["Experiment", "fields_for", "COMPARE_FIELDS", "PROBE_FIELDS", "RESULTS_JSON",
           "RESULTS_CSV", "SETTINGS_JSON", "HPARAMS_SUFFIX", "LAYOUT_SUFFIX", "REPORT_SUFFIX"]
