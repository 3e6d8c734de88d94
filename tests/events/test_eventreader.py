"""`keras_initcmp.events.reader`: reads back what `eventfile` and `tf.summary` write, as
TensorBoard's `EventAccumulator` does, without TensorFlow."""

import struct

import numpy as np
import pytest
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

from keras_initcmp.events.writer import EventWriter
from keras_initcmp.events.reader import read_event_file, read_events


def _write_run(log_dir):
    writer = EventWriter(log_dir, filename_suffix=".v2")
    writer.scalar("loss", 0.5, step=1)
    writer.scalar("loss", 0.25, step=2)
    writer.scalar("loss", 0.125, step=2)  # a step written twice: both are kept, in order
    writer.histogram("activations/dense", [[-1.0, 0.0, 3.0], [0.0, 1.0, 5.0]], step=0)
    writer.image("figure", b"\x89PNG...", 640, 480, step=0)
    writer.summary(summary_pb2.Summary(value=[summary_pb2.Summary.Value(
        tag="legacy", simple_value=1.5)]), step=3)  # TF1-style: migrated to a tensor
    writer.close()
    return writer.path


def test_reads_back_every_summary_in_the_order_written(tmp_path):
    _write_run(tmp_path)
    EventWriter(tmp_path / "train").scalar("loss", 9.0, 1)  # a sub-folder is another run
    events = read_events(tmp_path)
    assert list(events) == ["loss", "activations/dense", "figure", "legacy"]
    assert [(step, float(value)) for step, value in events["loss"]] == [
        (1, 0.5), (2, 0.25), (2, 0.125)]
    [(step, rows)] = events["activations/dense"]
    np.testing.assert_array_equal(rows, [[-1, 0, 3], [0, 1, 5]])
    assert step == 0 and rows.dtype == np.float64
    [(_, image)] = events["figure"]
    assert image.tolist() == [b"640", b"480", b"\x89PNG..."]
    assert [(s, float(v)) for s, v in events["legacy"]] == [(3, 1.5)]
    assert read_events(tmp_path / "nowhere") == {}


def test_the_same_as_tensorboards_own_reader(tmp_path):
    tf = pytest.importorskip("tensorflow")
    from tensorboard.backend.event_processing.event_accumulator import TENSORS, EventAccumulator

    _write_run(tmp_path)
    with tf.summary.create_file_writer(str(tmp_path)).as_default():
        tf.summary.scalar("tf_scalar", 2.0, step=4)
        tf.summary.histogram("tf_histogram", tf.range(10.0), step=4, buckets=3)
    accumulator = EventAccumulator(str(tmp_path), size_guidance={TENSORS: 0})
    accumulator.Reload()
    expected = {tag: [(e.step, tf.make_ndarray(e.tensor_proto)) for e in accumulator.Tensors(tag)]
                for tag in accumulator.Tags()["tensors"]}
    events = read_events(tmp_path)
    # A TF1-style `simple_value` is a scalar tensor here, as in TensorBoard's server
    # (`plugin_event_accumulator`); this accumulator keeps it apart, under `Scalars`.
    assert sorted(events) == sorted([*expected, "legacy"])
    for tag, values in expected.items():
        assert [step for step, _ in events[tag]] == [step for step, _ in values], tag
        for (_, mine), (_, theirs) in zip(events[tag], values):
            assert mine.dtype == theirs.dtype and np.array_equal(mine, theirs), tag


def test_a_record_cut_short_is_left_out_and_a_foreign_file_is_refused(tmp_path):
    path = _write_run(tmp_path / "run")
    data = open(path, "rb").read()
    open(path, "wb").write(data[:-7])  # the last record, half written
    assert [float(v) for _, v in read_events(tmp_path / "run")["loss"]] == [0.5, 0.25, 0.125]
    assert "legacy" not in read_events(tmp_path / "run")

    foreign = tmp_path / "events.out.tfevents.0.host.1.2"
    foreign.write_bytes(b"not an event file, but long enough for a header")
    with pytest.raises(ValueError, match="is not a TensorBoard event file"):
        read_events(tmp_path)
    event = event_pb2.Event(step=1).SerializeToString()
    header = struct.pack("<Q", len(event) + 3)
    foreign.write_bytes(header + struct.pack("<I", masked_crc32c(header)) + b"\xff\xff\xff"
                        + event + b"\0\0\0\0")
    with pytest.raises(ValueError, match="damaged record"):
        list(read_event_file(foreign))


def test_record_checksums_equal_tensorboards_own():
    """The writer frames records with CRC-32C in C; TensorBoard's reader checks them
    against its own (pure Python) masked CRC-32C, here on lengths around the 8-byte header."""
    from keras_initcmp.events.writer import _masked_crc32c

    rng = np.random.default_rng(0)
    for size in (0, 1, 7, 8, 9, 255, 4096):
        data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        assert _masked_crc32c(data) == masked_crc32c(data), size
