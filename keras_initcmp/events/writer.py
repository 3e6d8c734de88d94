"""TensorBoard event files without TensorFlow: one writer of the summaries this package logs.

Every backend writes through this module, so the files are the same on TensorFlow,
JAX and PyTorch: the `tensorboard` package's own protos and record format (the ones
`tf.summary` writes, and PyTorch's `SummaryWriter` reuses), the same plugin metadata
as `tf.summary.scalar`, `tf.summary.histogram` and `tf.summary.image` (v2: tensor
summaries), so TensorBoard's dashboards, `EventAccumulator` and tbparse read them as
their own. Nothing here imports TensorFlow: `tensorboard.summary.writer`'s
`EventFileWriter` would, through `tensorboard.compat.tf`, whenever it is installed.

Writes are synchronous (no queue, no thread): a snapshot is a few hundred small
protos, and an event is on disk when `flush` returns, so an interrupted run keeps
every finished snapshot.
"""

import itertools
import os
import socket
import struct
import time

import google_crc32c
import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.histogram import metadata as histogram_metadata
from tensorboard.plugins.image import metadata as image_metadata
from tensorboard.plugins.scalar import metadata as scalar_metadata
from tensorboard.util import tensor_util

__all__ = ["EventWriter", "EVENT_FILE_PREFIX", "event_files"]

EVENT_FILE_PREFIX = "events.out.tfevents."
"""How every event file's name starts (TensorBoard looks for exactly this)."""

_SCALAR = scalar_metadata.create_summary_metadata(display_name=None, description=None)
_HISTOGRAM = histogram_metadata.create_summary_metadata(display_name=None, description=None)
_file_counter = itertools.count()


def event_files(folder, suffix=""):
    """Names of the event files directly in `folder` whose names end with `suffix`."""
    if not os.path.isdir(folder):
        return []
    return sorted(name for name in os.listdir(folder)
                  if name.startswith(EVENT_FILE_PREFIX) and name.endswith(suffix))


class EventWriter:
    """Appends summaries to one new event file in `log_dir`, created on the first write.

    Args:
        log_dir: Folder of the TensorBoard run (created when the file is).
        filename_suffix: Appended to the file's name, e.g. `".hparams-config"`, so
            that a file can be found and replaced later. Default `""`.

    Example:

    >>> writer = EventWriter("logs/run1")
    >>> writer.scalar("loss", 0.69, step=1)
    >>> writer.close()
    """

    def __init__(self, log_dir, filename_suffix=""):
        self.log_dir = os.fspath(log_dir)
        self.filename_suffix = filename_suffix
        self.path = None
        self._records = None

    def scalar(self, tag, value, step):
        """A scalar as `tf.summary.scalar` writes it: a float32 tensor, scalar plugin."""
        self._write_value(tag, np.asarray(value, np.float32), _SCALAR, step)

    def histogram(self, tag, rows, step):
        """`[k, 3]` rows `[left, right, count]` as `tf.summary.histogram` writes them."""
        self._write_value(tag, np.asarray(rows, np.float64), _HISTOGRAM, step)

    def image(self, tag, png, width, height, step):
        """One PNG-encoded image as `tf.summary.image` writes it: `[width, height, png]`."""
        metadata = image_metadata.create_summary_metadata(
            display_name=None, description=None, converted_to_tensor=True)
        tensor = np.array([str(width).encode(), str(height).encode(), png], dtype=object)
        self._write_value(tag, tensor, metadata, step)

    def tensor(self, tag, array, metadata, step):
        """Any tensor summary with its plugin's `SummaryMetadata` (the other methods' base)."""
        self._write_value(tag, np.asarray(array), metadata, step)

    def summary(self, summary, step=0):
        """A ready `Summary` proto (HParams, Custom Scalars layout, ...)."""
        if not isinstance(summary, summary_pb2.Summary):
            # Some plugins build theirs with TensorFlow's own class, where it is installed.
            summary = summary_pb2.Summary.FromString(summary.SerializeToString())
        self._write(event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary))

    def flush(self):
        if self._records is not None:
            self._records.flush()

    def close(self):
        """Flush and close the file; a later write opens a new one."""
        if self._records is not None:
            self._records.close()
        self._records = None

    def _write_value(self, tag, array, metadata, step):
        value = summary_pb2.Summary.Value(
            tag=tag, metadata=metadata, tensor=tensor_util.make_tensor_proto(array))
        self.summary(summary_pb2.Summary(value=[value]), step)

    def _write(self, event):
        if self._records is None:
            self._open()
        self._records.write(event.SerializeToString())

    def _open(self):
        os.makedirs(self.log_dir, exist_ok=True)
        # The name tf.summary gives its files (time, host, pid, a counter), so that
        # TensorBoard orders and tells them apart the same way.
        name = (f"{EVENT_FILE_PREFIX}{int(time.time()):010d}.{socket.gethostname()}."
                f"{os.getpid()}.{next(_file_counter)}{self.filename_suffix}")
        self.path = os.path.join(self.log_dir, name)
        self._records = _RecordWriter(open(self.path, "wb"))
        self._records.write(event_pb2.Event(
            wall_time=time.time(), file_version="brain.Event:2").SerializeToString())


class _RecordWriter:
    """TFRecord framing, as `tensorboard.summary.writer.record_writer.RecordWriter`
    writes it (length, masked CRC-32C of the length, data, masked CRC-32C of the
    data), with the checksums computed in C (google-crc32c) instead of Python."""

    def __init__(self, file):
        self._file = file

    def write(self, data):
        header = struct.pack("<Q", len(data))
        self._file.write(header + struct.pack("<I", _masked_crc32c(header)) + data
                         + struct.pack("<I", _masked_crc32c(data)))

    def flush(self):
        self._file.flush()

    def close(self):
        self._file.close()


def _masked_crc32c(data):
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF
