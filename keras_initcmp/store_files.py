"""The files of an experiment folder: locked, atomic writes and the results format.

What `keras_initcmp.store.Experiment` builds on: the folder's advisory lock (`Lock`,
`fcntl.flock` on `.lock`), the sweeps' session locks in `.sessions/`, writes through a
temporary file and a rename (a reader sees the old or the new file, never half of one),
and `results.json` / `results.csv` / `settings.json` read, checked and written.

Standard library and NumPy only (and the package's `checks`, imported relatively, so
that it loads without the package's `__init__`): no TensorFlow, no Keras.
"""

import contextlib
import csv
import fcntl
import io
import json
import os
import secrets
import tempfile
import threading

import numpy as np

from .checks import is_int

__all__ = ["COMPARE_FIELDS", "PROBE_FIELDS", "fields_for", "Lock", "start_session",
           "end_session", "live_sessions", "read_records", "read_settings", "as_records",
           "csv_text", "merged", "changed_keys", "rank_function", "write_atomic", "write_if_changed", "plain_name", "is_seed",
           "listdir", "remove_file", "remove_empty_folder", "TEMPORARY"]

COMPARE_FIELDS = ("scheme", "seed", "epochs", "steps", "loss", "accuracy", "val_loss",
                  "val_accuracy", "diverged", "seconds")
"""Columns of a `compare` results file: one record per scheme and seed."""
PROBE_FIELDS = ("scheme", "seed", "layer", "mean", "std", "zero_fraction", "saturation",
                "nonfinite", "predicted_std")
"""Columns of a `probe` results file: one record per scheme, seed and layer."""


TEMPORARY = ".tmp-"
"""Starts the name of a file being written (removed by the next sweep if left over)."""
_LOCK = ".lock"
_SESSIONS = ".sessions"
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def fields_for(records):
    """The results-file columns of `records`: `PROBE_FIELDS` if they have a `layer`,
    else `COMPARE_FIELDS`; then any other keys, in the order they first appear."""
    fields = PROBE_FIELDS if any("layer" in record for record in records) else COMPARE_FIELDS
    extra = dict.fromkeys(key for record in records for key in record if key not in fields)
    return fields + tuple(extra)


class Lock:
    """The advisory lock of `folder` (`fcntl.flock` on `<folder>/.lock`); reentrant
    within this object (and its threads take turns)."""

    def __init__(self, folder):
        self.folder = folder
        self._thread_lock = threading.RLock()
        self._file = None
        self._depth = 0

    @contextlib.contextmanager
    def held(self):
        """The lock, for the block."""
        with self._thread_lock:
            if self._depth == 0:
                os.makedirs(self.folder, exist_ok=True)
                file = open(os.path.join(self.folder, _LOCK), "a")
                try:
                    fcntl.flock(file.fileno(), fcntl.LOCK_EX)
                except BaseException:
                    file.close()
                    raise
                self._file = file
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._file.close()  # releases the flock
                    self._file = None


def start_session(folder):
    """A new session of `folder`: `(token, open file holding its flock)`."""
    sessions = os.path.join(folder, _SESSIONS)
    os.makedirs(sessions, exist_ok=True)
    token = secrets.token_hex(8)
    file = open(os.path.join(sessions, token), "w")
    fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new file: never blocks
    file.write(f"{os.getpid()}\n")
    file.flush()
    return token, file


def end_session(folder, session):
    """Ends a session of `start_session`: its file removed, its lock released."""
    token, file = session
    remove_file(os.path.join(folder, _SESSIONS, token))
    file.close()


def live_sessions(folder, own=None):
    """Tokens of the open sessions of `folder` but `own`; the files of ended ones are
    removed. Call it under the folder's lock."""
    sessions = os.path.join(folder, _SESSIONS)
    live = set()
    for token in listdir(sessions):
        if token == own:
            continue
        path = os.path.join(sessions, token)
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
            remove_file(path)  # its process is gone (the kernel released its lock)
    return live


def read_records(path):
    """The records of a `results.json` (`[]` if there is none); raises if damaged."""
    records = _read_json(path, "results")
    if records is None:
        return []
    if not isinstance(records, list) or not all(
            isinstance(record, dict) and isinstance(record.get("scheme"), str)
            and is_seed(record.get("seed")) for record in records):
        raise ValueError(f"{path} is not a results file (expected a JSON list of records "
                         "with 'scheme' and 'seed')")
    return records


def read_settings(path):
    """A `settings.json` as a dict, `None` if there is none; raises if it is damaged."""
    settings = _read_json(path, "settings")
    if settings is not None and not isinstance(settings, dict):
        raise ValueError(f"{path} is not a settings file (expected a JSON object)")
    return settings


def _read_json(path, kind):
    try:
        with open(path) as file:
            return json.load(file)
    except FileNotFoundError:
        return None
    except ValueError as error:  # not JSON (or not text): never guess
        raise ValueError(f"{path} is not a {kind} file ({error})") from None
    except OSError as error:
        raise ValueError(f"{path} is not a {kind} file ({error.strerror or error})") from None


def merged(current, new, sort_key, folder):
    """`current` records with `new` ones: a run's new records replace all its old ones
    (within `new`, the last of a repeated `(scheme, seed, layer)` counts); sorted by
    `sort_key`. Raises if `new` is not of `current`'s kind (probe or compare)."""
    kinds = {"layer" in record for record in current + new}
    if len(kinds) > 1:
        raise ValueError(f"Argument `records` must be of the experiment's kind (all with "
                         f"'layer', a probe, or none, a compare): {folder} holds "
                         f"{'probe' if 'layer' in current[0] else 'compare'} records. "
                         f"Received: records={new!r:.200}")
    replaced = {(record["scheme"], record["seed"]) for record in new}
    unique = {}
    for record in new:
        unique[(record["scheme"], record["seed"], record.get("layer"))] = record
    kept = [record for record in current if (record["scheme"], record["seed"]) not in replaced]
    return sorted(kept + list(unique.values()), key=sort_key)


def changed_keys(settings, previous):
    """The keys whose values differ between two settings dicts, sorted."""
    return sorted(key for key in settings.keys() | previous.keys()
                  if settings.get(key) != previous.get(key))


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


def write_if_changed(path, text):
    """`write_atomic`, unless the file already holds `text`."""
    try:
        with open(path) as file:
            if file.read() == text:
                return
    except (OSError, ValueError):
        pass
    write_atomic(path, text)


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




def listdir(folder):
    try:
        return sorted(os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []


def remove_empty_folder(path):
    with contextlib.suppress(OSError):  # not empty: something else lives there
        os.rmdir(path)


def remove_file(path):
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def write_atomic(path, text):
    """Writes `text` to `path` through a temporary file and a rename: all or nothing."""
    folder = os.path.dirname(path) or "."
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=TEMPORARY)
    try:
        os.fchmod(handle, 0o666 & ~_UMASK)  # mkstemp's 0600 would hide results from others
        with os.fdopen(handle, "w") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        remove_file(temporary)
        raise
    with contextlib.suppress(OSError):  # the rename itself, durable across a power cut
        directory = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


ADVICE = "Pass overwrite=True (--overwrite) to replace {}, or choose another logdir."


def check_previous_settings(folder, path, settings, records, others):
    """Refuses to open `folder` for `settings` if its results (or a live sweep, `others`)
    are from other settings; the settings of an empty experiment may change."""
    if not records and not others:
        return
    try:
        previous = read_settings(path)
    except ValueError as error:
        raise ValueError(f"{error}. {ADVICE.format('it')}") from None
    previous = {} if previous is None else previous
    if previous == settings:
        return
    changed = ", ".join(changed_keys(settings, previous))
    if records:
        raise ValueError(f"{folder} holds results from other settings (different "
                         f"{changed}). {ADVICE.format('them')}")
    raise ValueError(f"{folder} is being written by another sweep with other settings "
                     f"(different {changed}). Wait for it to finish, or choose another logdir.")


def check_current_settings(folder, path, settings):
    """Refuses to write into `folder` once its settings file is not `settings` any more."""
    try:
        current = read_settings(path)
    except ValueError:
        current = None
    if current != settings:
        changed = ", ".join(changed_keys(settings, current or {}))
        raise ValueError(f"{folder} holds other settings now (different {changed}): it was "
                         "replaced while this sweep ran, and this sweep's new results were "
                         "not written. Choose another logdir.")
