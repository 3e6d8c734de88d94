"""Reading an experiment folder for the report: records, settings and every run's series.

`load_experiment(folder)` checks that `folder` is a finished `compare` or `probe`
(one-line `ValueError`s otherwise), reads `results.json`, `settings.json` and the
event files of every finished run `<scheme>/seed-<k>/`, and notes what is missing.
The `Experiment` it returns answers the questions the figures ask, so that no figure
walks runs and tags itself: `series(tag)` is a tag's values over steps in every run.
"""

import dataclasses
import functools
import glob
import json
import os
import re

from keras_initcmp.measurement import tags
from keras_initcmp.events.reader import read_events

__all__ = ["Experiment", "load_experiment"]

_RUN_FOLDER = re.compile(r"seed-(\d+)$")
_HISTOGRAMS = tags.histogram_tag("")


@dataclasses.dataclass
class Experiment:
    """A finished experiment, as read from its folder.

    Attributes:
        folder: The experiment folder, `<logdir>/<experiment>`.
        name: Its name (the folder's).
        kind: `"compare"` or `"probe"`.
        settings: `settings.json` (`{}` if there is none).
        records: `results.json`, one record per run (probe: per run and layer).
        runs: `{(scheme, seed): {tag: [(step, ndarray), ...]}}` of the finished runs,
            one value per step (the last written), steps ascending.
        layers: The layer paths, in layer order.
        missing: One line per run that is missing or unfinished.
    """

    folder: str
    name: str
    kind: str
    settings: dict
    records: list
    runs: dict
    layers: list
    missing: list

    @property
    def schemes(self):
        """The schemes with a finished run, in the order of `results.json`."""
        return list(dict.fromkeys(scheme for scheme, _ in self.runs))

    def seeds(self, scheme):
        """The seeds of the scheme's finished runs, ascending."""
        return sorted(seed for s, seed in self.runs if s == scheme)

    def tags(self):
        """Every tag of any run, in the order first written."""
        return list(dict.fromkeys(tag for events in self.runs.values() for tag in events))

    def series(self, tag, scalars=False):
        """`{(scheme, seed): [(step, value), ...]}`: the tag over steps in every run that
        logged it, schemes in order, seeds ascending. With `scalars`, only the 0-d
        values, as floats."""
        found = {}
        for scheme in self.schemes:
            for seed in self.seeds(scheme):
                values = self.runs[scheme, seed].get(tag)
                if values and scalars:
                    values = [(step, float(value)) for step, value in values if value.ndim == 0]
                if values:
                    found[scheme, seed] = values
        return found

    def value(self, scheme, seed, tag, step):
        """The run's value of `tag` at `step`, `None` if it logged none."""
        return dict(self.runs[scheme, seed].get(tag, ())).get(step)

    def record(self, scheme, seed, layer):
        """A probe's record of one run and layer, `None` if there is none."""
        return self._probe_records.get((scheme, seed, layer))

    def steps_per_epoch(self, scheme, seed):
        """Training steps between two logged steps (epochs or chunks) of a run."""
        per_epoch = self.settings.get("steps_per_epoch")
        if isinstance(per_epoch, int) and per_epoch > 0:
            return per_epoch
        for record in self.records:
            if (record["scheme"], record["seed"]) == (scheme, seed) and record.get("epochs"):
                return max(1, round(record["steps"] / record["epochs"]))
        return 1

    @functools.cached_property
    def _probe_records(self):
        by_layer = {}
        for record in self.records:
            by_layer.setdefault((record["scheme"], record["seed"], record.get("layer")), record)
        return by_layer


def load_experiment(folder):
    """The `Experiment` in `folder`.

    Raises:
        ValueError: in one line, when `folder` is not an experiment folder, has no
            finished run yet, or a file in it cannot be read.
    """
    records, settings = _read_results(folder)
    kind = settings.get("kind") or ("probe" if "layer" in records[0] else "compare")
    if kind not in ("compare", "probe") or (kind == "probe") != ("layer" in records[0]):
        raise ValueError(f"{os.path.join(folder, 'results.json')} does not match "
                         f"settings.json (kind {kind!r})")
    finished = list(dict.fromkeys((r["scheme"], r["seed"]) for r in records))
    runs, missing = {}, []
    for scheme, seed in finished:
        events, problem = _read_run(folder, scheme, seed, kind)
        if problem:
            missing.append(f"{scheme}/seed-{seed}: in results.json, but its run folder {problem}")
        if events is not None:
            runs[scheme, seed] = events
    missing += [f"{scheme}/seed-{seed}: still running or interrupted (a run folder without a "
                "result); left out" for scheme, seed in _run_folders(folder)
                if (scheme, seed) not in finished]
    if not runs:
        raise ValueError(f"{folder}: none of the {len(finished)} runs in results.json has "
                         "a run folder with event files")
    if kind == "probe":
        layers = list(dict.fromkeys(r["layer"] for r in records))
    else:
        logged = dict.fromkeys(tag for events in runs.values() for tag in events)
        layers = [tag[len(_HISTOGRAMS):] for tag in logged if tag.startswith(_HISTOGRAMS)]
    name = os.path.basename(os.path.normpath(os.path.abspath(folder)))
    return Experiment(folder, name, kind, settings, records, runs, layers, missing)


def _read_results(folder):
    """`(records, settings)` of an experiment folder, or the one-line reason it is not one."""
    if not os.path.exists(folder):
        raise ValueError(f"{folder} does not exist: pass <logdir>/<experiment>, "
                         "the folder keras-initcmp compare or probe wrote")
    if not os.path.isdir(folder):
        raise ValueError(f"{folder} is not a folder: pass <logdir>/<experiment>, "
                         "the folder keras-initcmp compare or probe wrote")
    results = os.path.join(folder, "results.json")
    settings = _read_json(os.path.join(folder, "settings.json"), {})
    if not os.path.exists(results):
        inner = sorted(name for name in os.listdir(folder)
                       if os.path.isfile(os.path.join(folder, name, "results.json")))
        if inner:
            raise ValueError(f"{folder} is a log folder, not an experiment: pass one of its "
                             f"experiments, e.g. {os.path.join(folder, inner[0])}")
        if settings or _run_folders(folder):
            raise ValueError(f"{folder} has no finished run yet (no results.json): the "
                             "experiment is still running or was interrupted before its "
                             "first run ended")
        raise ValueError(f"{folder} is not an experiment folder: it has no results.json "
                         "(keras-initcmp compare or probe writes <logdir>/<experiment>/"
                         "results.json)")
    records = _read_json(results, None)
    if not isinstance(records, list) or not all(
            isinstance(r, dict) and {"scheme", "seed"} <= r.keys() for r in records):
        raise ValueError(f"{results} is not a keras-initcmp results file (expected a JSON "
                         "list of records with 'scheme' and 'seed')")
    if not records:
        raise ValueError(f"{folder} has no finished run yet (results.json is empty)")
    return records, settings


def _read_run(folder, scheme, seed, kind):
    """`(events, problem)` of a finished run: `events` is `None` where the run is left
    out, `problem` says what is wrong with its folder (`None` if nothing)."""
    run_dir = os.path.join(folder, scheme, f"seed-{seed}")
    if not os.path.isdir(run_dir):
        return None, "is missing"
    events = _read_series(run_dir)
    if any(tag.startswith(_HISTOGRAMS) for tag in events):
        return events, None
    # Cost curves need no histograms: a compare run with a loss stays in.
    return (None if kind == "probe" or "loss" not in events else events,
            "has no activation histograms")


def _read_series(run_dir):
    """`{tag: [(step, ndarray), ...]}` of a run: one value per step, the last written."""
    try:
        events = read_events(run_dir)
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read the event files in {run_dir}: {error}") from None
    return {tag: sorted(dict(values).items()) for tag, values in events.items()}


def _read_json(path, default):
    try:
        with open(path) as file:
            return json.load(file)
    except FileNotFoundError:
        return default
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read {path}: {error}") from None


def _run_folders(folder):
    """`(scheme, seed)` of every `<scheme>/seed-<k>/` folder with event files."""
    found = []
    for path in sorted(glob.glob(os.path.join(glob.escape(folder), "*", "seed-*"))):
        match = _RUN_FOLDER.search(path)
        if match and os.path.isdir(path) and glob.glob(os.path.join(glob.escape(path),
                                                                    "*tfevents*")):
            found.append((os.path.basename(os.path.dirname(path)), int(match.group(1))))
    return found
