"""The files of an experiment folder: advisory locks and all-or-nothing writes.

What `keras_initcmp.store.Experiment` builds on: the folder's advisory lock (`Lock`,
`fcntl.flock` on `.lock`), the sweeps' session locks in `.sessions/`, and writes through
a temporary file and a rename (a reader sees the old or the new file, never half of one).
The formats written through them are `records`' and `settings`'.

Standard library only: no TensorFlow, no Keras.
"""

import contextlib
import fcntl
import json
import os
import secrets
import tempfile
import threading

__all__ = ["Lock", "start_session", "end_session", "live_sessions", "read_json",
           "write_atomic", "write_if_changed", "listdir", "remove_file", "remove_empty_folder",
           "event_files_ending", "EVENTS_PREFIX", "TEMPORARY"]


EVENTS_PREFIX = "events.out.tfevents."
"""How every TensorBoard event file's name starts."""
TEMPORARY = ".tmp-"
"""Starts the name of a file being written (removed by the next sweep if left over)."""
_LOCK = ".lock"
_SESSIONS = ".sessions"
_UMASK = os.umask(0o022)
os.umask(_UMASK)


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


def read_json(path, kind):
    try:
        with open(path) as file:
            return json.load(file)
    except FileNotFoundError:
        return None
    except ValueError as error:  # not JSON (or not text): never guess
        raise ValueError(f"{path} is not a {kind} file ({error})") from None
    except OSError as error:
        raise ValueError(f"{path} is not a {kind} file ({error.strerror or error})") from None


def write_if_changed(path, text):
    """`write_atomic`, unless the file already holds `text`."""
    try:
        with open(path) as file:
            if file.read() == text:
                return
    except (OSError, ValueError):
        pass
    write_atomic(path, text)


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


def event_files_ending(folder, suffix):
    """Paths of the event files directly in `folder` whose names end in `suffix` (a dot
    and a plain name, such as `".custom-scalars"`), sorted."""
    if not isinstance(suffix, str) or len(suffix) < 2 or not suffix.startswith(".") \
            or os.sep in suffix or (os.altsep and os.altsep in suffix):
        raise ValueError(f"Argument `suffix` must be the end of an event file's name, a dot "
                         f"and a plain name such as '.custom-scalars'. Received: suffix={suffix!r}")
    return sorted(os.path.join(folder, name) for name in listdir(folder)
                  if name.startswith(EVENTS_PREFIX) and name.endswith(suffix)
                  and os.path.isfile(os.path.join(folder, name)))
