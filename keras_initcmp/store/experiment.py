"""An experiment on disk, `<logdir>/<experiment>/`: `Experiment`, the one class that knows
its layout (see `keras_initcmp.store` for the layout and its guarantees)."""

import contextlib
import functools
import json
import os
import shutil
import tempfile

from ..checks import non_negative_int
from . import files, records as results, run_folders, settings as settings_file
from .files import listdir as _listdir, remove_file as _remove_file
from .records import (COMPARE_FIELDS, PROBE_FIELDS, RESULTS_CSV, RESULTS_JSON, fields_for,
                      plain_name as _plain_name)

__all__ = ["Experiment", "fields_for", "COMPARE_FIELDS", "PROBE_FIELDS", "RESULTS_JSON",
           "RESULTS_CSV", "SETTINGS_JSON", "HPARAMS_SUFFIX", "LAYOUT_SUFFIX", "REPORT_SUFFIX"]

SETTINGS_JSON = "settings.json"

HPARAMS_SUFFIX = ".hparams-config"
"""Ends the name of the experiment's HParams config, a root event file."""
LAYOUT_SUFFIX = ".custom-scalars"
"""Ends the name of the experiment's custom-scalars layout, a root event file."""
REPORT_SUFFIX = ".report"
"""Ends the name of the root event file with the report's images."""

_ADVICE = settings_file.ADVICE


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
        group: Record fields naming a run's folders, default `("scheme",)`; a coordinate
            check's `("parametrization", "width")` (`run_folders.group_path`), a tuple.
    """

    def __init__(self, logdir, name, rank=None, group=("scheme",)):
        self.name = _plain_name("experiment", name)
        self.logdir = os.fspath(logdir)
        self.folder = os.path.join(self.logdir, self.name)
        self.settings = None
        self._rank = results.rank_function(rank)
        self._lock = files.Lock(self.folder)
        self._session = None  # (token, open file holding its flock)
        self._staged = {}  # staging folder -> (scheme, seed), this session's unfinished runs
        self.group = run_folders.check_group(group)
        self._key = functools.partial(run_folders.run_key, self.group)  # (group, seed)

    @classmethod
    def from_folder(cls, folder, rank=None, group=("scheme",)):
        """The experiment whose folder is `folder` (`<logdir>/<name>`)."""
        logdir, name = os.path.split(os.path.normpath(os.fspath(folder)))
        if name in ("", ".", ".."):
            logdir, name = os.path.split(os.path.abspath(os.fspath(folder)))
        return cls(logdir, name, rank, group)

    def __repr__(self):
        return f"Experiment({self.logdir!r}, {self.name!r})"

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # --- layout -------------------------------------------------------------------

    def run_dir(self, scheme, seed):
        """The folder of a finished run, `<folder>/<scheme>/seed-<seed>`."""
        return os.path.join(self.folder, run_folders.group_path(self.group, scheme), f"seed-{_seed(seed)}")

    def trial_id(self, scheme, seed):
        """The run's HParams trial id, `<experiment>/<scheme>/seed-<k>`: unique across the
        experiments one TensorBoard shows, whatever folder the run is written in."""
        return f"{self.name}/{run_folders.group_path(self.group, scheme, '/')}/seed-{_seed(seed)}"

    def runs(self):
        """`(scheme, seed)` of every finished run folder, in rank order."""
        found = [(run_folders.group_of_path(self.group, scheme), int(match.group(1)))
                 for scheme in run_folders.scheme_folders(self.folder, len(self.group))
                 for match in map(run_folders.RUN.fullmatch, _listdir(os.path.join(self.folder, scheme)))
                 if match and os.path.isdir(os.path.join(self.folder, scheme, match.group(0)))]
        return sorted(found, key=lambda run: self._sort_key(*run))

    def unfinished_runs(self):
        """`(scheme, seed)` of every run being written, or left unfinished by a sweep that
        stopped (until the next sweep removes it), in rank order."""
        found = {(run_folders.group_of_path(self.group, scheme), int(match.group(1)))
                 for scheme in run_folders.scheme_folders(self.folder, len(self.group))
                 for match in map(run_folders.STAGING.fullmatch, _listdir(os.path.join(self.folder, scheme)))
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
        return files.event_files_ending(self.folder, suffix)

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
        files.event_files_ending(self.folder, suffix)  # checks `suffix` before any change
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
                run_folders.clean(self.folder, others | {self._session[0]}, len(self.group))
                if overwrite:
                    if others:
                        raise ValueError(f"{self.folder} is being written by another sweep "
                                         "right now: overwrite would remove its runs. Wait "
                                         "for it to finish, or choose another logdir.")
                    run_folders.remove_runs(self.folder, len(self.group))
                    for name in (RESULTS_JSON, RESULTS_CSV):
                        _remove_file(os.path.join(self.folder, name))
                    records = []
                else:
                    records = self._opening_records()
                    settings_file.check_previous_settings(self.folder, self._settings_path, settings,
                                                  records, others)
                    if records:  # a sweep killed between the two files left the CSV behind
                        self._write_if_changed(RESULTS_CSV, results.csv_text(records))
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
            if any(self._key(record) == (scheme, seed) for record in self._read_records()):
                return None
            others = self._live_sessions()
            for match in map(run_folders.STAGING.fullmatch, _listdir(scheme_dir)):
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
        records = results.as_records(records)
        if any(self._key(record) != (scheme, seed) for record in records):
            raise ValueError(f"Argument `records` must be records of the run ({scheme!r}, "
                             f"{seed!r}). Received: records={records!r:.200}")
        with self._locked():
            try:
                settings_file.check_current_settings(self.folder, self._settings_path, self.settings)
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
        records = results.as_records(records)
        with self._locked():
            settings_file.check_current_settings(self.folder, self._settings_path, self.settings)
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

    def _locked(self):
        """The experiment's advisory lock; reentrant within this object."""
        return self._lock.held()

    def _start_session(self):
        self._session = files.start_session(self.folder)

    def _end_session(self):
        session, self._session = self._session, None
        files.end_session(self.folder, session)

    def _live_sessions(self):
        """Tokens of the other open sweeps; the files of ended ones are removed. Locked."""
        return files.live_sessions(self.folder, None if self._session is None
                                   else self._session[0])

    def _opening_records(self):
        try:
            return self._read_records()
        except ValueError as error:
            raise ValueError(f"{error}. {_ADVICE.format('it')}") from None

    def _read_records(self):
        return results.read_records(os.path.join(self.folder, RESULTS_JSON))

    @property
    def _settings_path(self):
        return os.path.join(self.folder, SETTINGS_JSON)

    def _check_open(self):
        if self._session is None:
            raise ValueError(f"{self!r} is not open: call open(settings) before writing "
                             "runs or results")

    def _sort_key(self, scheme, seed):
        return (self._rank(scheme[0] if len(self.group) > 1 else scheme), scheme, seed)

    def _merge_and_write(self, current, new):
        return results.write_merged(self.folder, current, new, lambda record: self._sort_key(
            *self._key(record)), self._key)

    def _write_if_changed(self, name, text):
        files.write_if_changed(os.path.join(self.folder, name), text)


# --- helpers ------------------------------------------------------------------------


def _seed(seed):
    return non_negative_int("seed", seed)
