"""A `.keras` file saved before the house move (main 0167843, every initializer class with
non-default arguments; tests/fixtures/make_initializers_before_move.py) loads now: same
weights, same initializer classes and configs, without `custom_objects`."""

import json
import os
import zipfile

import keras
import numpy as np
import pytest

import keras_initcmp
from keras_initcmp import initializers as ki
from paths import FIXTURES

SAVED = os.path.join(FIXTURES, "initializers_before_move.keras")
WEIGHTS = os.path.join(FIXTURES, "initializers_before_move_weights.npz")

# What the fixture's script passed, layer by layer: the class and its constructor arguments.
EXPECTED = {
    "dense_0": (ki.Zeros, {}),
    "dense_1": (ki.ScaledNormal, {"scale": 0.02, "seed": 1}),
    "dense_2": (ki.Xavier, {"mode": "fan_in", "distribution": "normal", "gain": 1.0, "seed": 2}),
    "dense_3": (ki.Xavier, {"mode": "fan_avg", "distribution": "uniform", "gain": 1.0, "seed": 3}),
    "dense_4": (ki.He, {"mode": "fan_in", "distribution": "truncated_normal",
                        "negative_slope": 0.1, "seed": 4}),
    "dense_5": (ki.Orthogonal, {"gain": 1.5, "seed": 5}),
    "dense_6": (ki.PyTorchDefault, {"seed": 6, "fan_in": None}),
    "conv": (ki.DeltaOrthogonal, {"gain": 2.0, "seed": 7}),
}


@pytest.fixture(scope="module")
def model():
    return keras.saving.load_model(SAVED)


def test_the_fixture_was_saved_with_the_registered_names():
    with zipfile.ZipFile(SAVED) as archive:
        config = json.loads(archive.read("config.json"))
    names = {layer["config"]["name"]: layer["config"]["kernel_initializer"]["registered_name"]
             for layer in config["config"]["layers"] if "kernel_initializer" in layer["config"]}
    assert names == {name: f"keras_initcmp>{cls.__name__}"
                     for name, (cls, _) in EXPECTED.items()}


def test_weights_load_unchanged(model):
    with np.load(WEIGHTS) as saved:
        expected = [saved[f"arr_{index}"] for index in range(len(saved.files))]
    loaded = model.get_weights()
    assert len(loaded) == len(expected)
    for ours, theirs in zip(loaded, expected):
        np.testing.assert_array_equal(ours, theirs)


def test_initializers_load_as_the_same_classes_with_the_same_arguments(model):
    for name, (cls, arguments) in EXPECTED.items():
        initializer = model.get_layer(name).kernel_initializer
        assert type(initializer) is cls, name
        assert initializer.get_config() == arguments, name


def test_every_class_is_saved_under_its_public_module():
    for cls, _ in EXPECTED.values():
        assert cls.__module__ == "keras_initcmp.initializers"
        assert getattr(keras_initcmp.initializers, cls.__name__) is cls
