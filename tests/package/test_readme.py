"""The README's and docs/ pages' examples keep running, and their links keep resolving.

What is run, on tiny settings (see `_tiny`):

- every ```python block (`get_strategy("multiworker")` becomes `"default"`: one
  process here; tests/distributed/test_distributed.py runs two workers). Each one is preceded in the Markdown by a marker
  `<!-- readme-test: prelude=NAME -->` naming the definitions it runs after (`PRELUDES`
  below: `x`, `y`, a compiled `model`, ...), or `<!-- readme-test: skip=REASON -->`.
  A block gets a fresh namespace from its prelude; `epochs=N` and `seeds=N` in it
  become 2 and 1.
- every `keras-initcmp ...` line of a ```bash block (continuation lines joined,
  comments dropped), with the sizes overridden: `compare` trains 20 steps in 2 epochs,
  one seed, the last of its schemes (`he` by default); `probe` 200 samples; `coord-check`
  widths 16 and 32, 2 steps, one seed. Lines with a
  `KERAS_BACKEND` other than tensorflow run as the console script in their own process
  (skipped where that backend is not installed); `NOT_RUN` lists the slow ones not
  run (deep-digits); lines with `TF_CONFIG` (two
  multi-worker shells, covered by tests/distributed/test_distributed.py) are not run. Other
  commands of a bash block (`./scripts/*.sh`, `.venv/bin/python benchmarks/...`,
  `tensorboard`, `pip`) are not run.
- ``` blocks without a language are output listings (measured output): not run.

All TensorFlow examples run in one subprocess, one after the other in document order
(README first, then docs/ by name) in one temporary folder, so that a later example
finds the files of an earlier one (`logs/circles` for `report`); `my_model.keras`,
`my_data.npz` and `my_models.py` are there from the start. The JAX and PyTorch lines
run beside it. Every failure is reported with its file and line.
"""

import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap

import pytest

from paths import ROOT

PAGES = ["README.md"] + sorted(os.path.join("docs", name) for name in os.listdir(
    os.path.join(ROOT, "docs")) if name.endswith(".md"))
MARKER = re.compile(r"<!--\s*readme-test:\s*(prelude|skip)=(.*?)\s*-->")
FENCE = re.compile(r"^```(\S*)\s*$")

_IMPORTS = """
import numpy as np
import keras
import keras_initcmp
rng = np.random.default_rng(0)
"""

PRELUDES = {
    # imports only: the block defines what it uses
    "imports": _IMPORTS,
    # 10 classes, 20 features
    "classes": _IMPORTS + """
x = rng.normal(size=(256, 20)).astype("float32")
y = rng.integers(0, 10, size=256)
model = keras.Sequential([keras.Input((20,)),
                          keras.layers.Dense(16, activation="relu", name="dense"),
                          keras.layers.Dense(10, activation="softmax", name="dense_1")])
model.compile("adam", "sparse_categorical_crossentropy")
""",
    # binary labels, 32 features (the subclassed Residual adds its input to a width-32 layer)
    "binary": _IMPORTS + """
x = rng.normal(size=(256, 32)).astype("float32")
y = (x[:, 0] > 0).astype("float32")
x_val = rng.normal(size=(64, 32)).astype("float32")
y_val = (x_val[:, 0] > 0).astype("float32")
x_train, y_train, x_test, y_test = x, y, x_val, y_val
model = keras.Sequential([keras.Input((32,)),
                          keras.layers.Dense(16, activation="relu", name="dense"),
                          keras.layers.Dense(1, activation="sigmoid", name="dense_1")])
model.compile("sgd", "binary_crossentropy", metrics=["accuracy"])
""",
    # keras_hub's BERT inputs
    "bert": _IMPORTS + """
tokens = rng.integers(1, 1000, size=(64, 16)).astype("int32")
segments = np.zeros((64, 16), "int32")
mask = np.ones((64, 16), "int32")
""",
    # tf.distribute: a model builder and 2-feature binary data
    "distributed": _IMPORTS + """
x = rng.normal(size=(512, 2)).astype("float32")
y = (x[:, 0] * x[:, 1] > 0).astype("float32")
def build_model():
    return keras.Sequential([keras.Input((2,)), keras.layers.Dense(8, activation="relu"),
                             keras.layers.Dense(1, activation="sigmoid")])
""",
}

# CLI lines with all of these words are not run, and why.
NOT_RUN = {
    ("compare", "deep-digits"): "a 30-layer net: 40 s here even at 20 steps; "
                                "tests/experiments/test_experiments.py trains it",
    ("--dask",): "a Dask cluster: tests/distributed/test_dask.py runs sweeps on real ones",
}

# Files the CLI lines name, made before any example runs.
SETUP = PRELUDES["binary"] + """
model.save("my_model.keras")
np.savez("my_data.npz", x=x_train, y=y_train, x_val=x_test, y_val=y_test)
open("my_models.py", "w").write('''
import keras

def build():
    return keras.Sequential([keras.Input((32,)), keras.layers.Dense(8, activation="relu"),
                             keras.layers.Dense(2, activation="softmax")])
''')
"""

_RUNNER = textwrap.dedent("""
    import contextlib, io, json, os, sys, time, traceback
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    jobs = json.load(open(sys.argv[1]))
    results = []
    for job in jobs:
        out = io.StringIO()
        status, error, start = 0, None, time.perf_counter()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                if job["kind"] == "python":
                    exec(compile(job["code"], job["where"], "exec"), {"__name__": "__main__"})
                else:
                    from keras_initcmp import cli
                    status = cli.main(job["argv"])
        except SystemExit as exit_:
            status = exit_.code if isinstance(exit_.code, int) else 2
        except BaseException:
            status, error = -1, traceback.format_exc()
        results.append({"where": job["where"], "status": status, "error": error,
                        "output": out.getvalue()[-3000:],
                        "seconds": round(time.perf_counter() - start, 1)})
        json.dump(results, open(sys.argv[2], "w"))
""")


def _blocks(page):
    """`(line, language, code, marker)` for every fenced block of `page`."""
    lines = open(os.path.join(ROOT, page), encoding="utf-8").read().split("\n")
    blocks, i, marker = [], 0, None
    while i < len(lines):
        found = MARKER.search(lines[i])
        fence = FENCE.match(lines[i])
        if found:
            marker = found.groups()
        elif fence:
            start, body = i + 1, []
            i += 1
            while not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            blocks.append((start, fence.group(1), "\n".join(body) + "\n", marker))
            marker = None
        elif lines[i].strip():
            marker = None  # a marker belongs to the block right after it
        i += 1
    return blocks


def _commands(code):
    """`(env, argv)` per shell command of a bash block; continuation lines joined."""
    text = code.replace("\\\n", " ")
    commands = []
    for line in text.split("\n"):
        words = shlex.split(line, comments=True)
        env = {}
        while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
            name, _, value = words.pop(0).partition("=")
            env[name] = value
        if words:
            commands.append((env, words))
    return commands


def _drop(argv, option):
    """`argv` without `option` and its value; the value, or None."""
    value, out, i = None, [], 0
    while i < len(argv):
        if argv[i] == option:
            value, i = argv[i + 1], i + 2
            continue
        if argv[i].startswith(option + "="):
            value = argv[i].partition("=")[2]
        else:
            out.append(argv[i])
        i += 1
    return out, value


def _tiny(argv):
    """The same command on tiny settings."""
    command = argv[0]
    if command == "coord-check":  # two small widths, two steps, one seed
        for option in ("--widths", "--seeds", "--steps", "--jobs"):
            argv, _ = _drop(argv, option)
        return argv + ["--widths", "16,32", "--steps", "2", "--seeds", "1"]
    if command not in ("compare", "probe"):
        return argv
    for option in ("--jobs", "--seeds", "--steps", "--epochs", "--samples",
                   "--histogram-samples", "--batch-size"):
        argv, _ = _drop(argv, option)
    argv, schemes = _drop(argv, "--schemes")
    last = schemes.split(",")[-1] if schemes else "he"
    argv += ["--schemes", last, "--seeds", "1"]
    if command == "probe":
        return argv + ["--samples", "200", "--histogram-samples", "100", "--batch-size", "100"]
    if "--model" in argv:
        return argv + ["--epochs", "2"]
    return argv + ["--steps", "20", "--epochs", "2"]


def _python(code):
    # One process, one device: the multi-worker strategy (two processes, tested by
    # tests/distributed/test_distributed.py) becomes the default one; the example's code path stays.
    code = code.replace('get_strategy("multiworker")', 'get_strategy("default")')
    code = re.sub(r"\bepochs=\d+", "epochs=2", code)
    return re.sub(r"\bseeds=\d+", "seeds=1", code)


def _examples():
    """(TensorFlow jobs in order, other-backend commands, not run) over every page."""
    jobs, others, not_run, seen = [], [], [], set()
    for page in PAGES:
        for line, language, code, marker in _blocks(page):
            where = f"{page}:{line}"
            if language == "python":
                assert marker is not None, f"{where}: python block without a readme-test marker"
                kind, value = marker
                if kind == "skip":
                    not_run.append(f"{where}: {value}")
                    continue
                assert value in PRELUDES, f"{where}: unknown prelude {value!r}"
                source = PRELUDES[value] + "\n" + _python(code)
                if source not in seen:
                    seen.add(source)
                    jobs.append({"kind": "python", "where": where, "code": source})
            elif language == "bash":
                for env, words in _commands(code):
                    if os.path.basename(words[0]) != "keras-initcmp":
                        not_run.append(f"{where}: {shlex.join(words)}")
                        continue
                    slow = [reason for words_in, reason in NOT_RUN.items()
                            if all(word in words for word in words_in)]
                    if slow:
                        not_run.append(f"{where}: {slow[0]}: {shlex.join(words)}")
                        continue
                    if "TF_CONFIG" in env:
                        not_run.append(f"{where}: multi-worker shell: {shlex.join(words)}")
                        continue
                    argv = _tiny(words[1:])
                    backend = env.get("KERAS_BACKEND", "tensorflow")
                    key = (backend, tuple(argv))
                    if key in seen:
                        continue
                    seen.add(key)
                    if backend == "tensorflow":
                        jobs.append({"kind": "cli", "where": where, "argv": argv})
                    else:
                        argv, _ = _drop(argv, "--logdir")
                        # each line its own folder: two lines of other settings would refuse
                        # each other's results (their sweeps are separate examples)
                        others.append((where, backend,
                                       argv + ["--logdir", f"logs-{backend}-{len(others)}"]))
            else:
                assert language == "", f"{where}: fence language {language!r}: python, bash or none"
    setup = {"kind": "python", "where": "tests/package/test_readme.py:SETUP", "code": SETUP}
    return [setup] + jobs, others, not_run


def _slug(heading):
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def _anchors(path):
    anchors, inside = set(), False
    for line in open(path, encoding="utf-8"):
        if line.startswith("```"):
            inside = not inside
        elif not inside and line.startswith("#"):
            anchors.add(_slug(line.lstrip("#")))
    return anchors


def test_links_and_images_resolve():
    broken = []
    for page in PAGES:
        text = open(os.path.join(ROOT, page), encoding="utf-8").read()
        text = re.sub(r"```.*?```", "", text, flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"^[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            path = os.path.normpath(os.path.join(ROOT, os.path.dirname(page), file)) if file \
                else os.path.join(ROOT, page)
            if not os.path.exists(path):
                broken.append(f"{page}: {target} (no such file)")
            elif anchor and anchor not in _anchors(path):
                broken.append(f"{page}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def test_examples_are_marked_and_parsed():
    jobs, others, not_run = _examples()
    assert any(job["kind"] == "cli" and job["argv"][0] == "compare" for job in jobs)
    assert any(job["kind"] == "cli" and job["argv"][0] == "doctor" for job in jobs)
    assert any(job["kind"] == "python" for job in jobs)
    assert _tiny(["compare", "--experiment", "breast-cancer", "--schemes",
                  "zeros,random,xavier,he,lsuv", "--seeds", "3"]) == [
        "compare", "--experiment", "breast-cancer", "--schemes", "lsuv", "--seeds", "1",
        "--steps", "20", "--epochs", "2"]


def _console_script():
    script = os.path.join(os.path.dirname(sys.executable), "keras-initcmp")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "keras_initcmp.cli"]


def test_examples_run(tmp_path):
    jobs, others, _ = _examples()
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    (tmp_path / "runner.py").write_text(_RUNNER)
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    main = subprocess.Popen([sys.executable, str(tmp_path / "runner.py"), str(tmp_path / "jobs.json"),
                             str(tmp_path / "results.json")], cwd=work, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    side, skipped = [], []
    for where, backend, argv in others:
        if importlib.util.find_spec(backend) is None:
            skipped.append(f"{where}: {backend} not installed")
            continue
        process = subprocess.Popen(_console_script() + argv, cwd=work,
                                   env=dict(env, KERAS_BACKEND=backend),
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        side.append((where, backend, argv, process))
    failures = []
    try:
        main_output = main.communicate(timeout=600)[0]
        for where, backend, argv, process in side:
            output = process.communicate(timeout=600)[0]
            if process.returncode != 0:
                failures.append(f"{where}: KERAS_BACKEND={backend} keras-initcmp "
                                f"{shlex.join(argv)}: exit {process.returncode}\n{output[-3000:]}")
    finally:
        for process in [main] + [entry[3] for entry in side]:
            if process.poll() is None:
                process.kill()
                process.wait()
    results_path = tmp_path / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else []
    if len(results) < len(jobs):
        failures.append(f"runner stopped after {len(results)} of {len(jobs)} examples "
                        f"(exit {main.returncode}):\n{main_output[-3000:]}")
    for job, result in zip(jobs, results):
        allowed = {0, 1} if job["kind"] == "cli" and "--fail-on" in job["argv"] else {0}
        if result["status"] not in allowed:
            what = shlex.join(["keras-initcmp"] + job["argv"]) if job["kind"] == "cli" else "python block"
            failures.append(f"{result['where']}: {what}: status {result['status']}\n"
                            f"{result['error'] or ''}{result['output']}")
    timing = "\n".join(f"{r['seconds']:6.1f} s  {r['where']}" for r in results)
    assert not failures, "\n\n".join(failures) + "\n\nseconds per example:\n" + timing
    # What the examples promise exists.
    assert (work / "logs" / "circles" / "results.json").exists()
    assert (work / "logs" / "circles" / "report.md").exists()
    assert (work / "logs" / "my-mlp" / "results.json").exists()
