"""Reading TensorBoard event files without TensorFlow: the one reader of the report and the tests.

The counterpart of `eventfile` (the writer). TensorBoard's `EventAccumulator` reads
records through `tensorboard.compat.tf`, which imports TensorFlow whenever it is
installed (seconds, and TensorFlow under a JAX or PyTorch backend). This module reads
the record format itself, as `tensorboard.summary.writer.record_writer` writes it
(little-endian `uint64` length, `uint32` masked CRC-32C of the length, the data,
`uint32` masked CRC-32C of the data), parses `Event` protos with the `tensorboard`
package's own protos, turns legacy summaries (`simple_value`, `histo`, encoded
images) into tensor summaries with `tensorboard.data_compat.migrate_value`, and
decodes tensors with `tensorboard.util.tensor_util.make_ndarray`. Nothing here
imports TensorFlow.

`read_events(log_dir)` gives what `EventAccumulator(log_dir, size_guidance={TENSORS: 0})`
gives for `Tensors`: every tensor summary in the run folder's own event files (names
containing `tfevents`; sub-folders are other runs), files in name order, events in the
order written (a step written twice is there twice). Where it differs, and why:

- Legacy summaries are tensors here, as in TensorBoard's server (its
  `plugin_event_accumulator`); `EventAccumulator` files them under `Scalars`,
  `Histograms` and `Images`. `tf.summary` (v2) and `eventfile` write none.
- The length's CRC is checked: it catches a foreign file or a misaligned record at
  once. The data's is not: pure-Python CRC-32C runs at about 3 MB/s, and damaged data
  most often fails to parse as an `Event` (a `ValueError` here too).
- A record cut short at the end of a file is left out, as TensorBoard leaves it: the
  writer may be in the middle of it.
- No purge on `SessionLog.START` (TensorBoard's restart rule for TF1 supervisors):
  `tf.summary` (v2) and `eventfile` never write one.
"""

import os
import struct

from tensorboard import data_compat
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c
from tensorboard.util import tensor_util

__all__ = ["read_events", "read_event_file", "run_event_files"]

_HEADER = struct.Struct("<QI")  # length, masked CRC of the length


def run_event_files(log_dir):
    """Paths of the event files directly in `log_dir`, in name order (TensorBoard's)."""
    log_dir = os.fspath(log_dir)
    if not os.path.isdir(log_dir):
        return []
    return [os.path.join(log_dir, name) for name in sorted(os.listdir(log_dir))
            if "tfevents" in name and os.path.isfile(os.path.join(log_dir, name))]


def read_event_file(path):
    """The `Event` protos of one event file, in the order written.

    Raises:
        ValueError: when the file is not an event file or a record is damaged.
    """
    with open(path, "rb") as file:
        data = file.read()
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, length_crc = _HEADER.unpack_from(data, offset)
        if masked_crc32c(data[offset:offset + 8]) != length_crc:
            raise ValueError(f"{path} is not a TensorBoard event file (bad record header "
                             f"at byte {offset})")
        start, offset = offset + _HEADER.size, offset + _HEADER.size + length + 4
        if offset > len(data):
            return  # cut short: still being written
        try:
            yield event_pb2.Event.FromString(data[start:start + length])
        except Exception as error:  # protobuf's DecodeError, whatever its module
            raise ValueError(f"{path}: damaged record at byte {start} ({error})") from None


def read_events(log_dir):
    """`{tag: [(step, ndarray), ...]}` of every tensor summary of a run, in the order written.

    Scalars come as 0-d arrays, histograms as `[k, 3]` rows `[left, right, count]`,
    images as `[width, height, png, ...]` byte strings.

    Raises:
        ValueError: when one of the run's event files is not readable as one.
    """
    events = {}
    for path in run_event_files(log_dir):
        for event in read_event_file(path):
            for value in event.summary.value:
                value = data_compat.migrate_value(value)
                if value.HasField("tensor"):
                    events.setdefault(value.tag or value.node_name, []).append(
                        (event.step, tensor_util.make_ndarray(value.tensor)))
    return events
