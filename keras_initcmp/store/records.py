"""The results format of an experiment: `results.json` / `results.csv` records, read,
checked, merged and written as CSV.

Standard library and NumPy only: no TensorFlow, no Keras.
"""

import csv
import io
import json
import os

import numpy as np

from ..checks import is_int
from .files import read_json, write_atomic

__all__ = ["RESULTS_JSON", "RESULTS_CSV", "write_merged", "COMPARE_FIELDS", "PROBE_FIELDS", "COORD_FIELDS", "fields_for", "read_records", "as_records",
           "csv_text", "merged", "rank_function", "plain_name", "is_seed"]


RESULTS_JSON = "results.json"
RESULTS_CSV = "results.csv"

COMPARE_FIELDS = ("scheme", "seed", "epochs", "steps", "loss", "accuracy", "val_loss",
                  "val_accuracy", "diverged", "seconds")
"""Columns of a `compare` results file: one record per scheme and seed."""


PROBE_FIELDS = ("scheme", "seed", "layer", "mean", "std", "zero_fraction", "saturation",
                "nonfinite", "predicted_std")
"""Columns of a `probe` results file: one record per scheme, seed and layer."""


COORD_FIELDS = ("parametrization", "width", "seed", "layer", "step", "l1", "scheme", "mean",
                "std", "zero_fraction", "saturation", "nonfinite", "dead_units")
"""Columns of a `coord_check` results file: one record per run, layer and step."""


def fields_for(records):
    """The results-file columns of `records`: `COORD_FIELDS` if they have a
    `parametrization`, `PROBE_FIELDS` if they have a `layer`, else `COMPARE_FIELDS`;
    then any other keys, in the order they first appear."""
    fields = (COORD_FIELDS if any("parametrization" in record for record in records) else
              PROBE_FIELDS if any("layer" in record for record in records) else COMPARE_FIELDS)
    extra = dict.fromkeys(key for record in records for key in record if key not in fields)
    return fields + tuple(extra)


def read_records(path):
    """The records of a `results.json` (`[]` if there is none); raises if damaged."""
    records = read_json(path, "results")
    if records is None:
        return []
    if not isinstance(records, list) or not all(
            isinstance(record, dict) and isinstance(record.get("scheme"), str)
            and is_seed(record.get("seed")) for record in records):
        raise ValueError(f"{path} is not a results file (expected a JSON list of records "
                         "with 'scheme' and 'seed')")
    return records


def merged(current, new, sort_key, folder, run_key=None):
    """`current` records with `new` ones: a run's new records replace all its old ones
    (within `new`, the last of a repeated `(run, layer, step)` counts); sorted by
    `sort_key`. A run is `run_key(record)`, default `(scheme, seed)`. Raises if `new`
    is not of `current`'s kind (per layer, or not)."""
    run_key = run_key or (lambda record: (record["scheme"], record["seed"]))
    kinds = {"layer" in record for record in current + new}
    if len(kinds) > 1:
        raise ValueError(f"Argument `records` must be of the experiment's kind (all with "
                         f"'layer', a probe, or none, a compare): {folder} holds "
                         f"{'probe' if 'layer' in current[0] else 'compare'} records. "
                         f"Received: records={new!r:.200}")
    replaced = {run_key(record) for record in new}
    unique = {}
    for record in new:
        unique[(run_key(record), record.get("layer"), record.get("step"))] = record
    kept = [record for record in current if run_key(record) not in replaced]
    return sorted(kept + list(unique.values()), key=sort_key)


def rank_function(rank):
    """A scheme's sort key from `rank`: a sequence of names (others after them), a
    function of the name, or `None` (all equal)."""
    if rank is None:
        return lambda scheme: 0
    if callable(rank):
        return rank
    if isinstance(rank, str) or not hasattr(rank, "__iter__"):
        raise ValueError(f"Argument `rank` must be a sequence of scheme names or a function "
                         f"of a scheme name. Received: rank={rank!r}")
    order = {scheme: index for index, scheme in enumerate(dict.fromkeys(rank))}
    return lambda scheme: order.get(scheme, len(order))


def csv_text(records):
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=fields_for(records), lineterminator="\n",
                            restval="")
    writer.writeheader()
    writer.writerows(records)
    return table.getvalue()


def as_records(records):
    """Records as they read back from `results.json`, checked."""
    if isinstance(records, (dict, str, bytes)) or not hasattr(records, "__iter__"):
        raise ValueError(f"Argument `records` must be a list of dicts. Received: "
                         f"records={records!r:.200}")
    records = list(records)
    try:
        records = json.loads(json.dumps(records, default=_plain_number, allow_nan=False))
    except ValueError:
        raise ValueError(f"Argument `records` must hold finite numbers (null for NaN and "
                         f"infinity, as JSON has none). Received: records={records!r:.200}"
                         ) from None
    except TypeError as error:
        raise ValueError(f"Argument `records` must hold JSON values ({error}). Received: "
                         f"records={records!r:.200}") from None
    for record in records:
        if not isinstance(record, dict) or not isinstance(record.get("scheme"), str) \
                or not is_seed(record.get("seed")) \
                or not all(value is None or isinstance(value, (str, int, float))
                           for value in record.values()) \
                or ("layer" in record and not isinstance(record["layer"], str)):
            raise ValueError("Argument `records` must be flat records with 'scheme' (a str), "
                             "'seed' (a non-negative int) and plain values. Received: "
                             f"{record!r:.200} in records")
        plain_name("scheme", record["scheme"])
    return records


def _plain_number(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} {value!r:.80} is not a JSON value")


def plain_name(argument, name):
    if not isinstance(name, str) or not name or name.startswith(".") or os.sep in name \
            or (os.altsep and os.altsep in name) or "\0" in name:
        raise ValueError(f"Argument `{argument}` must be a plain folder name. "
                         f"Received: {argument}={name!r}")
    return name


def is_seed(seed):
    """Whether `seed` is a run's seed: an int >= 0 (Python or NumPy), not a bool."""
    return is_int(seed) and seed >= 0


def write_merged(folder, current, new, sort_key, run_key=None):
    """`merged` records of `folder`, written to its `results.json` and `results.csv` (each
    all or nothing) where they changed or the CSV is missing; returns them. Call locked."""
    records = merged(current, new, sort_key, folder, run_key)
    if records != current or not os.path.exists(os.path.join(folder, RESULTS_CSV)):
        if records:
            write_atomic(os.path.join(folder, RESULTS_JSON),
                         json.dumps(records, indent=1, allow_nan=False))
            write_atomic(os.path.join(folder, RESULTS_CSV), csv_text(records))
    return records
