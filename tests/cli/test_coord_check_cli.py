"""`keras-initcmp coord-check`: a user's module:function end to end, and bad input (one line,
exit status 2, nothing written)."""

import json
import os
import textwrap

import numpy as np
import pytest

from cli_run import run_main  # tests/support


@pytest.fixture(scope="module")
def user_build(tmp_path_factory):
    folder = tmp_path_factory.mktemp("user")
    (folder / "wide.py").write_text(textwrap.dedent("""
        import keras

        def build(width):
            inputs = keras.Input((5,))
            hidden = keras.layers.Dense(width, activation="tanh", name="hidden")(inputs)
            hidden = keras.layers.Dense(width, activation="tanh", name="deep")(hidden)
            return keras.Model(inputs, keras.layers.Dense(1, name="out")(hidden))
    """))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 5)).astype("float32")
    np.savez(folder / "batch.npz", x=x, y=x.sum(1, keepdims=True))
    return folder


def test_user_module_function_end_to_end(capsys, tmp_path, user_build):
    status, out, err = run_main(
        capsys, "coord-check", "--experiment", f"{user_build / 'wide.py'}:build",
        "--data", user_build / "batch.npz", "--widths", "8,16", "--parametrization", "sp,mup",
        "--steps", "2", "--optimizer", "sgd", "--learning-rate", "0.05", "--logdir", tmp_path,
        "--quiet")
    assert status == 0, err
    folder = tmp_path / "build"
    records = json.loads((folder / "results.json").read_text())
    assert {(r["parametrization"], r["width"]) for r in records} == {
        ("sp", 8), ("sp", 16), ("mup", 8), ("mup", 16)}
    assert {r["layer"] for r in records} == {"hidden", "deep", "out"}
    assert (folder / "mup" / "width-16" / "seed-0").is_dir()
    assert "t=1" in out and "t=2" in out and "coord_check.png" in out


@pytest.mark.parametrize("argv, words", [
    (["--widths", "64"], "--widths"),
    (["--widths", "a,b"], "--widths"),
    (["--parametrization", "sp,ntk"], "--parametrization"),
    (["--scheme", "random"], "--scheme"),
    (["--steps", "0"], "--steps"),
    (["--optimizer", "lion"], "--optimizer"),
    (["--learning-rate", "-1"], "--learning-rate"),
    (["--experiment", "no-such"], "--experiment"),
    (["--experiment", "no_module_here:build", "--data", "x.npz"], "x.npz"),
    (["--experiment", "m:f"], "--data"),
    (["--data", "x.npz"], "--data"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, argv, words):
    status, out, err = run_main(capsys, "coord-check", "--logdir", tmp_path, *argv)
    assert status == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("keras-initcmp: error:") and words in lines[0]
    assert not os.listdir(tmp_path)
