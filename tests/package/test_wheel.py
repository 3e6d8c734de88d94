"""The package installs from a wheel with every part: `pip wheel .`, that wheel installed
(not editable) into a folder of its own, every subpackage imported from there, and the
console script it installs runs `keras-initcmp list`."""

import os
import pkgutil
import subprocess
import sys
import zipfile

import pytest

import keras_initcmp
from paths import ROOT

PARTS = sorted(module.name for module in pkgutil.iter_modules(keras_initcmp.__path__,
                                                               "keras_initcmp.")
               if module.ispkg)

IMPORT_EVERY_PART = """
import importlib, json, sys
import keras_initcmp
parts = sys.argv[1:]
for part in parts:
    importlib.import_module(part)
print(json.dumps({"file": keras_initcmp.__file__, "parts": parts}))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                            "-q", "-w", str(folder / "dist"), ROOT],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = (folder / "dist").glob("keras_initcmp-*.whl")
    target = folder / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q",
                              "--target", str(target), str(wheel)],
                             capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr[-3000:]
    return wheel, target


def test_the_wheel_holds_every_subpackage(installed):
    wheel, _ = installed
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert PARTS and all(f"{part.replace('.', '/')}/__init__.py" in names for part in PARTS)
    assert not any(name.startswith("tests/") for name in names)


def test_every_part_imports_from_the_installed_wheel(installed, tmp_path):
    _, target = installed
    parts = [part for part in PARTS if part != "keras_initcmp.backend"] + [
        "keras_initcmp.backend", "keras_initcmp.backend.tensorflow"]
    env = {**os.environ, "PYTHONPATH": str(target), "KERAS_BACKEND": "tensorflow"}
    done = subprocess.run([sys.executable, "-c", IMPORT_EVERY_PART, *parts], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1].startswith(
        '{"file": "' + str(target / "keras_initcmp" / "__init__.py"))


def test_the_installed_console_script_lists_the_schemes(installed, tmp_path):
    _, target = installed
    env = {**os.environ, "PYTHONPATH": str(target), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([str(target / "bin" / "keras-initcmp"), "list"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "he" in done.stdout.split() and "circles" in done.stdout
