"""`strategy="data-parallel"`: the backend's own data parallelism over every local device.

JAX runs in a subprocess with two host CPU devices
(`XLA_FLAGS=--xla_force_host_platform_device_count=2`): the same sweep on one device
and data-parallel, the callback's statistics and the records compared.
"""

import json
import os
import subprocess
import sys

import numpy as np

from keras_initcmp import driver, experiments
from cli_run import our_lines
from events import read_events
from paths import ROOT, SUPPORT

TIMEOUT = 600
SCRIPT = os.path.join(os.path.dirname(sys.executable), "keras-initcmp")


def env(backend, **extra):
    return {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2",
            "PYTHONPATH": os.pathsep.join([ROOT, SUPPORT]), **extra}


def test_jax_data_parallel_on_two_devices_matches_one_device(tmp_path):
    done = subprocess.run(
        [sys.executable, os.path.join(SUPPORT, "data_parallel_run.py"), str(tmp_path)],
        capture_output=True, text=True, timeout=TIMEOUT,
        env=env("jax", XLA_FLAGS="--xla_force_host_platform_device_count=2"))
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["jax_devices"] == 2
    # Every data-parallel run trained with its variables on both devices.
    assert result["many_devices"] == [["cpu:0", "cpu:1"]] * 2
    for one, many in zip(result["one"], result["many"], strict=True):
        assert (one["scheme"], one["steps"]) == (many["scheme"], many["steps"])
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            np.testing.assert_allclose(many[key], one[key], rtol=1e-4, err_msg=key)
    settings = json.loads((tmp_path / "many" / "dp" / "settings.json").read_text())
    assert settings["strategy"] == "data-parallel"
    for scheme in ("he", "xavier"):
        one_dir = tmp_path / "one" / "dp" / scheme / "seed-0"
        many_dir = tmp_path / "many" / "dp" / scheme / "seed-0"
        # One writer per file, not one per device.
        assert len(os.listdir(many_dir)) == len(os.listdir(one_dir)) == 2
        one_events, many_events = read_events(one_dir), read_events(many_dir)
        assert one_events.keys() == many_events.keys()
        statistics = [tag for tag in one_events if "/" in tag and not tag.startswith("_")]
        assert len(statistics) > 10, sorted(one_events)
        for tag in statistics:
            steps = [step for step, _ in one_events[tag]]
            assert steps == [step for step, _ in many_events[tag]], tag
            for (step, a), (_, b) in zip(one_events[tag], many_events[tag]):
                if a.dtype.kind != "f":
                    continue
                # Step 0 (initialization): the same weights, the same probe batch.
                tolerance = dict(rtol=1e-5, atol=1e-7) if step == 0 else dict(rtol=1e-3, atol=1e-5)
                np.testing.assert_allclose(b, a, err_msg=f"{tag} step {step}", **tolerance)


def test_tensorflow_data_parallel_is_mirrored(tmp_path):
    circles = experiments.get("circles")
    records = driver.compare(circles.build_model(), circles.load_data(), ("he",),
                             experiment="circles", logdir=tmp_path, strategy="data-parallel",
                             **{**circles.training, "steps": 4, "epochs": 2})
    assert records[0]["steps"] == 4 and records[0]["loss"] is not None
    settings = json.loads((tmp_path / "circles" / "settings.json").read_text())
    assert settings["strategy"] == "mirrored"


def test_pytorch_data_parallel_is_a_one_line_error(tmp_path):
    done = subprocess.run(
        [SCRIPT, "compare", "--strategy", "data-parallel", "--steps", "2", "--epochs", "1",
         "--logdir", str(tmp_path / "logs")],
        capture_output=True, text=True, timeout=TIMEOUT, env=env("torch"))
    assert done.returncode == 2, done.stderr[-2000:]
    [line] = our_lines(done.stderr)
    assert line == ("keras-initcmp: error: --strategy data-parallel: needs KERAS_BACKEND=jax "
                    "or tensorflow (Keras has no distribution for PyTorch); this is "
                    "KERAS_BACKEND=torch")
    assert not (tmp_path / "logs").exists()
