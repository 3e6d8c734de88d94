"""An experiment on disk, `<logdir>/<experiment>/`: the one module that knows its layout.

```
<logdir>/<experiment>/
    settings.json                     the sweep's settings: what makes two sweeps comparable
    results.json, results.csv         one flat record per run (probe: per run and layer)
    <scheme>/seed-<k>/                one finished TensorBoard run per scheme and seed
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

Standard library and NumPy only: no TensorFlow, no Keras.
"""

import contextlib
import csv
import fcntl
import io
import json
import os
import re
import secrets
import shutil
import tempfile
import threading

import numpy as np

__all__ = ["Experiment", "fields_for", "COMPARE_FIELDS", "PROBE_FIELDS", "RESULTS_JSON",
           "RESULTS_CSV", "SETTINGS_JSON", "HPARAMS_SUFFIX", "LAYOUT_SUFFIX", "REPORT_SUFFIX"]

COMPARE_FIELDS = ("scheme", "seed", "epochs", "steps", "loss", "accuracy", "val_loss",
                  "val_accuracy", "diverged", "seconds")
"""Columns of a `compare` results file: one record per scheme and seed."""
PROBE_FIELDS = ("scheme", "seed", "layer", "mean", "std", "zero_fraction", "saturation",
                "nonfinite", "predicted_std")
"""Columns of a `probe` results file: one record per scheme, seed and layer."""

RESULTS_JSON = "results.json"
RESULTS_CSV = "results.csv"
SETTINGS_JSON = "settings.json"

HPARAMS_SUFFIX = ".hparams-config"
"""Ends the name of the experiment's HParams config, a root event file."""
LAYOUT_SUFFIX = ".custom-scalars"
"""Ends the name of the experiment's custom-scalars layout, a root event file."""
REPORT_SUFFIX = ".report"
"""Ends the name of the root event file with the report's images."""

_EVENTS_PREFIX = "events.out.tfevents."
_LOCK = ".lock"
_SESSIONS = ".sessions"
_TEMPORARY = ".tmp-"
_RUN = re.compile(r"seed-(\d+)")
_STAGING = re.compile(r"\.seed-(\d+)\.([0-9a-f]{16})\.\w+")
_ASIDE = re.compile(r"\.replaced-seed-(\d+)\.\w+")
_ADVICE = "Pass overwrite=True (--overwrite) to replace {}, or choose another logdir."
_UMASK = os.umask(0o022)
os.umask(_UMASK)


class Experiment:
    """The folder `<logdir>/<name>/` of one experiment: its runs, results and settings.

    Reading (`records`, `runs`, `root_event_files`) needs nothing more. Writing runs
    and results needs `open(settings)` first (a sweep), and `close()` (or a `with`
    block) at the end.

    Args:
        logdir: The folder of the experiments (TensorBoard's `--logdir`).
        name: The experiment's folder name, a plain name (no separators, no leading dot).
        rank: The order of the schemes in the results: a sequence of scheme names (others
            after them, by name) or a function of the scheme name giving a sort key;
            `None` sorts by name. Seeds ascend within a scheme, and a run's records
            keep their order (a probe's layers).
    """

    def __init__(self, logdir, name, rank=None):
        self.name = _plain_name("experiment", name)
        self.logdir = os.fspath(logdir)
        self.folder = os.path.join(self.logdir, self.name)
        self.settings = None
        self._rank = _rank_function(rank)
        self._thread_lock = threading.RLock()
        self._lock_file = None
        self._lock_depth = 0
        self._session = None  # (token, open file holding its flock)
        self._staged = {}  # staging folder -> (scheme, seed), this session's unfinished runs

    @classmethod
    def from_folder(cls, folder, rank=None):
        """The experiment whose folder is `folder` (`<logdir>/<name>`)."""
        logdir, name = os.path.split(os.path.normpath(os.fspath(folder)))
        if name in ("", ".", ".."):
            logdir, name = os.path.split(os.path.abspath(os.fspath(folder)))
        return cls(logdir, name, rank)

    def __repr__(self):
        return f"Experiment({self.logdir!r}, {self.name!r})"

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # --- layout -------------------------------------------------------------------

    def run_dir(self, scheme, seed):
        """The folder of a finished run, `<folder>/<scheme>/seed-<seed>`."""
        return os.path.join(self.folder, _plain_name("scheme", scheme), f"seed-{_seed(seed)}")

    def trial_id(self, scheme, seed):
        """The run's HParams trial id, `<experiment>/<scheme>/seed-<k>`: unique across the
        experiments one TensorBoard shows, whatever folder the run is written in."""
        return f"{self.name}/{_plain_name('scheme', scheme)}/seed-{_seed(seed)}"

    def runs(self):
        """`(scheme, seed)` of every finished run folder, in rank order."""
        found = [(scheme, int(match.group(1)))
                 for scheme in self._scheme_folders()
                 for match in map(_RUN.fullmatch, _listdir(os.path.join(self.folder, scheme)))
                 if match and os.path.isdir(os.path.join(self.folder, scheme, match.group(0)))]
        return sorted(found, key=lambda run: self._sort_key(*run))

    def unfinished_runs(self):
        """`(scheme, seed)` of every run being written, or left unfinished by a sweep that
        stopped (until the next sweep removes it), in rank order."""
        found = {(scheme, int(match.group(1)))
                 for scheme in self._scheme_folders()
                 for match in map(_STAGING.fullmatch, _listdir(os.path.join(self.folder, scheme)))
                 if match}
        return sorted(found, key=lambda run: self._sort_key(*run))

    def records(self):
        """The records of `results.json` (`[]` if there is none yet), in its order.

        Raises:
            ValueError: `results.json` is not a results file.
        """
        return self._read_records()

    def root_event_files(self, suffix):
        """Paths of the event files at the experiment's root whose names end in `suffix`."""
        suffix = _suffix(suffix)
        return sorted(os.path.join(self.folder, name) for name in _listdir(self.folder)
                      if name.startswith(_EVENTS_PREFIX) and name.endswith(suffix)
                      and os.path.isfile(os.path.join(self.folder, name)))

    @contextlib.contextmanager
    def replace_root_event_file(self, suffix):
        """Replaces the root event file(s) ending in `suffix` with the one written inside.

        Yields the folder to write the new event file into (with a writer that ends its
        file names in `suffix`, closed before the block ends). When the block ends, the
        files with that suffix that were there before are removed; if it raises, the
        new ones are removed and the old ones kept. The experiment's lock is held
        throughout, so concurrent sweeps replace one after the other, and `records()`
        inside the block are every sweep's records.

        Example:

        >>> with experiment.replace_root_event_file(LAYOUT_SUFFIX) as folder:
        ...     writer = tf.summary.create_file_writer(folder, filename_suffix=LAYOUT_SUFFIX)
        ...     ...
        ...     writer.close()
        """
        suffix = _suffix(suffix)
        with self._locked():
            old = set(self.root_event_files(suffix))
            try:
                yield self.folder
            except BaseException:
                for path in set(self.root_event_files(suffix)) - old:
                    _remove_file(path)
                raise
            for path in old:
                _remove_file(path)

    # --- a sweep ------------------------------------------------------------------

    def open(self, settings, overwrite=False):
        """Starts a sweep with `settings`; returns the records already there (resume).

        Under the lock: removes what stopped sweeps left (unfinished run folders,
        temporary files), checks the settings and writes `settings.json`. Another
        sweep may run at the same time with the same settings.

        Args:
            settings: A dict of JSON values (others are written as strings), compared
                as they read back from `settings.json`.
            overwrite: Remove the experiment's runs and results and start afresh.

        Returns:
            The records of `results.json`; `[]` with `overwrite`.

        Raises:
            ValueError: `results.json` is damaged; the results (or a sweep running now)
                have other settings, naming the keys that differ; `overwrite` while
                another sweep is writing into the experiment.
        """
        if not isinstance(settings, dict):
            raise ValueError(f"Argument `settings` must be a dict. "
                             f"Received: settings={settings!r:.200}")
        settings = json.loads(json.dumps(settings, default=str))  # as it reads back from disk
        self.close()
        with self._locked():
            self._start_session()
            try:
                others = self._live_sessions()
                self._clean(others)
                if overwrite:
                    if others:
                        raise ValueError(f"{self.folder} is being written by another sweep "
                                         "right now: overwrite would remove its runs. Wait "
                                         "for it to finish, or choose another logdir.")
                    self._remove_runs_and_results()
                    records = []
                else:
                    records = self._opening_records()
                    self._check_previous_settings(settings, records, others)
                    if records:  # a sweep killed between the two files left the CSV behind
                        self._write_if_changed(RESULTS_CSV, _csv_text(records))
                self._write_if_changed(SETTINGS_JSON, json.dumps(settings, indent=1))
            except BaseException:
                self._end_session()
                raise
        self.settings = settings
        return records

    def start_run(self, scheme, seed):
        """A new, empty folder to write the run `(scheme, seed)` into, or `None` when the
        run is already in `results.json` or another live sweep is writing it.

        The folder is a hidden sibling of `run_dir(scheme, seed)`; `finish_run` renames
        it into place, `abandon_run` (or `close`) removes it.
        """
        self._check_open()
        scheme_dir = os.path.dirname(self.run_dir(scheme, seed))
        with self._locked():
            if any((record["scheme"], record["seed"]) == (scheme, seed)
                   for record in self._read_records()):
                return None
            others = self._live_sessions()
            for match in map(_STAGING.fullmatch, _listdir(scheme_dir)):
                if match and int(match.group(1)) == seed and match.group(2) in others:
                    return None
            os.makedirs(scheme_dir, exist_ok=True)
            staging = tempfile.mkdtemp(prefix=f".seed-{seed}.{self._session[0]}.", dir=scheme_dir)
        self._staged[staging] = (scheme, seed)
        return staging

    def finish_run(self, scheme, seed, staging, records):
        """Renames the finished run's folder into place and adds its records.

        Call it once every writer into `staging` is closed. An older folder of the run
        (from an interrupted sweep of an earlier version) is replaced as a whole.

        Returns:
            Every record of the experiment, as in `results.json`.
        """
        self._check_open()
        target = self.run_dir(scheme, seed)
        if self._staged.get(staging) != (scheme, seed):
            raise ValueError(f"Argument `staging` must be the folder start_run({scheme!r}, "
                             f"{seed!r}) returned and not yet finished. Received: "
                             f"staging={staging!r}")
        records = _as_records(records)
        if any((record["scheme"], record["seed"]) != (scheme, seed) for record in records):
            raise ValueError(f"Argument `records` must be records of the run ({scheme!r}, "
                             f"{seed!r}). Received: records={records!r:.200}")
        with self._locked():
            try:
                self._check_current_settings()
            except ValueError:
                self.abandon_run(staging)
                raise
            current = self._read_records()
            if os.path.lexists(target):
                aside = tempfile.mkdtemp(prefix=f".replaced-seed-{seed}.",
                                         dir=os.path.dirname(target))
                os.rename(target, aside)
                os.rename(staging, target)
                shutil.rmtree(aside, ignore_errors=True)
            else:
                os.rename(staging, target)
            del self._staged[staging]
            return self._merge_and_write(current, records)

    def abandon_run(self, staging):
        """Removes a run folder from `start_run` that will not be finished."""
        if self._staged.pop(staging, None) is not None:
            shutil.rmtree(staging, ignore_errors=True)

    def add(self, records):
        """Adds records to `results.json` and `results.csv` (read-merge-write under the lock).

        A run's records replace every earlier record of the same `(scheme, seed)`;
        records of other runs, from this sweep or from any other, are kept.

        Args:
            records: Flat records (dicts of JSON values; NumPy scalars are converted)
                with `scheme` and `seed`, and `layer` for a probe: all of one kind.

        Returns:
            Every record of the experiment, as in `results.json`.
        """
        self._check_open()
        records = _as_records(records)
        with self._locked():
            self._check_current_settings()
            return self._merge_and_write(self._read_records(), records)

    def close(self):
        """Ends the sweep: removes its unfinished run folders and releases its session."""
        if self._session is None:
            return
        if not os.path.isdir(self.folder):  # removed from under the sweep: nothing to tidy
            self._staged.clear()
            self._session[1].close()
            self._session = None
            return
        with self._locked():
            for staging in list(self._staged):
                self.abandon_run(staging)
            self._end_session()

    # --- internals ----------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self):
        """The experiment's advisory lock; reentrant within this object."""
        with self._thread_lock:
            if self._lock_depth == 0:
                os.makedirs(self.folder, exist_ok=True)
                file = open(os.path.join(self.folder, _LOCK), "a")
                try:
                    fcntl.flock(file.fileno(), fcntl.LOCK_EX)
                except BaseException:
                    file.close()
                    raise
                self._lock_file = file
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
                if self._lock_depth == 0:
                    self._lock_file.close()  # releases the flock
                    self._lock_file = None

    def _start_session(self):
        folder = os.path.join(self.folder, _SESSIONS)
        os.makedirs(folder, exist_ok=True)
        token = secrets.token_hex(8)
        file = open(os.path.join(folder, token), "w")
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new file: never blocks
        file.write(f"{os.getpid()}\n")
        file.flush()
        self._session = (token, file)

    def _end_session(self):
        token, file = self._session
        self._session = None
        _remove_file(os.path.join(self.folder, _SESSIONS, token))
        file.close()

    def _live_sessions(self):
        """Tokens of the other open sweeps; the files of ended ones are removed. Locked."""
        folder = os.path.join(self.folder, _SESSIONS)
        live = set()
        for token in _listdir(folder):
            if self._session is not None and token == self._session[0]:
                continue
            path = os.path.join(folder, token)
            try:
                file = open(path)
            except (FileNotFoundError, IsADirectoryError):
                continue
            with file:
                try:
                    fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    live.add(token)
                    continue
                _remove_file(path)  # its process is gone (the kernel released its lock)
        return live

    def _clean(self, others):
        """Removes what stopped sweeps left behind. Locked, so no write is in progress."""
        live = others | {self._session[0]}
        for name in _listdir(self.folder):
            if name.startswith(_TEMPORARY):
                _remove_file(os.path.join(self.folder, name))
        for scheme in self._scheme_folders():
            scheme_dir = os.path.join(self.folder, scheme)
            removed = False
            for name in _listdir(scheme_dir):
                path = os.path.join(scheme_dir, name)
                staging, aside = _STAGING.fullmatch(name), _ASIDE.fullmatch(name)
                if staging and staging.group(2) not in live:
                    shutil.rmtree(path, ignore_errors=True)
                    removed = True
                elif aside:  # killed while replacing a finished run: finish the swap
                    target = os.path.join(scheme_dir, f"seed-{aside.group(1)}")
                    if os.path.lexists(target):
                        shutil.rmtree(path, ignore_errors=True)
                    else:
                        os.rename(path, target)
            if removed:
                _remove_empty_folder(scheme_dir)

    def _remove_runs_and_results(self):
        for scheme in self._scheme_folders():
            scheme_dir = os.path.join(self.folder, scheme)
            runs = [name for name in _listdir(scheme_dir)
                    if (_RUN.fullmatch(name) or _STAGING.fullmatch(name) or _ASIDE.fullmatch(name))
                    and os.path.isdir(os.path.join(scheme_dir, name))]
            for name in runs:
                shutil.rmtree(os.path.join(scheme_dir, name), ignore_errors=True)
            if runs:
                _remove_empty_folder(scheme_dir)
        for name in (RESULTS_JSON, RESULTS_CSV):
            _remove_file(os.path.join(self.folder, name))

    def _scheme_folders(self):
        return [name for name in _listdir(self.folder)
                if not name.startswith(".") and os.path.isdir(os.path.join(self.folder, name))]

    def _opening_records(self):
        try:
            return self._read_records()
        except ValueError as error:
            raise ValueError(f"{error}. {_ADVICE.format('it')}") from None

    def _read_records(self):
        path = os.path.join(self.folder, RESULTS_JSON)
        try:
            with open(path) as file:
                records = json.load(file)
        except FileNotFoundError:
            return []
        except ValueError as error:  # not JSON (or not text): never guess
            raise ValueError(f"{path} is not a results file ({error})") from None
        except OSError as error:
            raise ValueError(f"{path} is not a results file ({error.strerror})") from None
        if not isinstance(records, list) or not all(
                isinstance(record, dict) and isinstance(record.get("scheme"), str)
                and _is_seed(record.get("seed")) for record in records):
            raise ValueError(f"{path} is not a results file (expected a JSON list of records "
                             "with 'scheme' and 'seed')")
        return records

    def _read_settings(self):
        """`settings.json` as a dict, `None` if there is none; raises if it is damaged."""
        path = os.path.join(self.folder, SETTINGS_JSON)
        try:
            with open(path) as file:
                settings = json.load(file)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            raise ValueError(f"{path} is not a settings file "
                             f"({getattr(error, 'strerror', None) or error})") from None
        if not isinstance(settings, dict):
            raise ValueError(f"{path} is not a settings file (expected a JSON object)")
        return settings

    def _check_previous_settings(self, settings, records, others):
        if not records and not others:
            return  # nothing to keep: the settings of an empty experiment may change
        try:
            previous = self._read_settings()
        except ValueError as error:
            raise ValueError(f"{error}. {_ADVICE.format('it')}") from None
        previous = {} if previous is None else previous
        if previous == settings:
            return
        changed = ", ".join(_changed_keys(settings, previous))
        if records:
            raise ValueError(f"{self.folder} holds results from other settings (different "
                             f"{changed}). {_ADVICE.format('them')}")
        raise ValueError(f"{self.folder} is being written by another sweep with other "
                         f"settings (different {changed}). Wait for it to finish, or choose "
                         "another logdir.")

    def _check_current_settings(self):
        try:
            current = self._read_settings()
        except ValueError:
            current = None
        if current != self.settings:
            changed = ", ".join(_changed_keys(self.settings, current or {}))
            raise ValueError(f"{self.folder} holds other settings now (different {changed}): "
                             "it was replaced while this sweep ran, and this sweep's new "
                             "results were not written. Choose another logdir.")

    def _check_open(self):
        if self._session is None:
            raise ValueError(f"{self!r} is not open: call open(settings) before writing "
                             "runs or results")

    def _sort_key(self, scheme, seed):
        return (self._rank(scheme), scheme, seed)

    def _merge_and_write(self, current, new):
        kinds = {"layer" in record for record in current + new}
        if len(kinds) > 1:
            raise ValueError(f"Argument `records` must be of the experiment's kind (all with "
                             f"'layer', a probe, or none, a compare): {self.folder} holds "
                             f"{'probe' if 'layer' in current[0] else 'compare'} records. "
                             f"Received: records={new!r:.200}")
        replaced = {(record["scheme"], record["seed"]) for record in new}
        unique = {}
        for record in new:  # within one call, a repeated key: the last one counts
            unique[(record["scheme"], record["seed"], record.get("layer"))] = record
        merged = [record for record in current
                  if (record["scheme"], record["seed"]) not in replaced]
        merged = sorted(merged + list(unique.values()),
                        key=lambda record: self._sort_key(record["scheme"], record["seed"]))
        if merged != current or not os.path.exists(os.path.join(self.folder, RESULTS_CSV)):
            if merged:
                _write_atomic(os.path.join(self.folder, RESULTS_JSON),
                              json.dumps(merged, indent=1, allow_nan=False))
                _write_atomic(os.path.join(self.folder, RESULTS_CSV), _csv_text(merged))
        return merged

    def _write_if_changed(self, name, text):
        path = os.path.join(self.folder, name)
        try:
            with open(path) as file:
                if file.read() == text:
                    return
        except (OSError, ValueError):
            pass
        _write_atomic(path, text)


def fields_for(records):
    """The results-file columns of `records`: `PROBE_FIELDS` if they have a `layer`,
    else `COMPARE_FIELDS`; then any other keys, in the order they first appear."""
    fields = PROBE_FIELDS if any("layer" in record for record in records) else COMPARE_FIELDS
    extra = dict.fromkeys(key for record in records for key in record if key not in fields)
    return fields + tuple(extra)


# --- helpers ------------------------------------------------------------------------


def _csv_text(records):
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=fields_for(records), lineterminator="\n",
                            restval="")
    writer.writeheader()
    writer.writerows(records)
    return table.getvalue()


def _as_records(records):
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
                or not _is_seed(record.get("seed")) \
                or not all(value is None or isinstance(value, (str, int, float))
                           for value in record.values()) \
                or ("layer" in record and not isinstance(record["layer"], str)):
            raise ValueError("Argument `records` must be flat records with 'scheme' (a str), "
                             "'seed' (a non-negative int) and plain values. Received: "
                             f"{record!r:.200} in records")
        _plain_name("scheme", record["scheme"])
    return records


def _plain_number(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} {value!r:.80} is not a JSON value")


def _changed_keys(settings, previous):
    return sorted(key for key in settings.keys() | previous.keys()
                  if settings.get(key) != previous.get(key))


def _rank_function(rank):
    if rank is None:
        return lambda scheme: 0
    if callable(rank):
        return rank
    if isinstance(rank, str) or not hasattr(rank, "__iter__"):
        raise ValueError(f"Argument `rank` must be a sequence of scheme names or a function "
                         f"of a scheme name. Received: rank={rank!r}")
    order = {scheme: index for index, scheme in enumerate(dict.fromkeys(rank))}
    return lambda scheme: order.get(scheme, len(order))


def _plain_name(argument, name):
    if not isinstance(name, str) or not name or name.startswith(".") or os.sep in name \
            or (os.altsep and os.altsep in name) or "\0" in name:
        raise ValueError(f"Argument `{argument}` must be a plain folder name. "
                         f"Received: {argument}={name!r}")
    return name


def _is_seed(seed):
    return isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0


def _seed(seed):
    if not _is_seed(seed):
        raise ValueError(f"Argument `seed` must be a non-negative int. Received: seed={seed!r}")
    return int(seed)


def _suffix(suffix):
    if not isinstance(suffix, str) or len(suffix) < 2 or not suffix.startswith(".") \
            or os.sep in suffix or (os.altsep and os.altsep in suffix):
        raise ValueError(f"Argument `suffix` must be the end of an event file's name, a dot "
                         f"and a plain name such as {LAYOUT_SUFFIX!r}. Received: suffix={suffix!r}")
    return suffix


def _listdir(folder):
    try:
        return sorted(os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []


def _remove_empty_folder(path):
    with contextlib.suppress(OSError):  # not empty: something else lives there
        os.rmdir(path)


def _remove_file(path):
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def _write_atomic(path, text):
    """Writes `text` to `path` through a temporary file and a rename: all or nothing."""
    folder = os.path.dirname(path) or "."
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=_TEMPORARY)
    try:
        os.fchmod(handle, 0o666 & ~_UMASK)  # mkstemp's 0600 would hide results from others
        with os.fdopen(handle, "w") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        _remove_file(temporary)
        raise
    with contextlib.suppress(OSError):  # the rename itself, durable across a power cut
        directory = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
