"""The real-data experiments (breast-cancer, deep-digits) and the `lsuv` scheme of the driver.

Everything is asserted from theory or from the data, never from numbers copied from a
run; every check runs at a reduced size (a few hundred steps at most).
"""

import json
import math

import keras
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from keras_initcmp.reinit.redraw import reinitialize
from keras_initcmp.experiments import builtin
from keras_initcmp.driver import entry
from keras_initcmp import driver, experiments
from keras_initcmp.cli import commands as cli
from keras_initcmp.driver import tasks as runs
from keras_initcmp.driver import summary
from events import read_events, value
from cli_run import run_main

BREAST_CANCER = experiments.get("breast-cancer")
DEEP_DIGITS = experiments.get("deep-digits")


@pytest.fixture(autouse=True, scope="module")
def fresh_keras_names():
    """Other test files rely on Keras' auto names ("dense"); leave the counters as found."""
    yield
    keras.backend.clear_session()


def entropy(p):
    return -p * math.log(p) - (1 - p) * math.log(1 - p)


def sigmoid(z):
    return 1 / (1 + math.exp(-z))


# --- the data: offline, split and scaled as documented --------------------------------


def test_real_data_sets_load_offline_with_a_stratified_80_20_split(monkeypatch):
    import sklearn.datasets

    # Any download would go through fetch_*; the loaders must never touch them.
    for name in dir(sklearn.datasets):
        if name.startswith("fetch_"):
            monkeypatch.setattr(sklearn.datasets, name, lambda *a, **k: pytest.fail("download"))
    raw, scaled = BREAST_CANCER.load_data(), BREAST_CANCER.load_data(standardize=True)
    digits = DEEP_DIGITS.load_data()
    all_x, all_y = sklearn.datasets.load_breast_cancer(return_X_y=True)
    assert (len(raw["x"]), len(raw["x_val"])) == (455, 114)  # 569 * 0.8, rounded as sklearn does
    assert (len(digits["x"]), len(digits["x_val"])) == (1437, 360)
    # Stratified: each split keeps the label prior of the whole set (357 / 569 benign).
    for y in (raw["y"], raw["y_val"]):
        assert abs(y.mean() - all_y.mean()) < 1 / len(y)
    # Raw means the scikit-learn features unchanged (a permutation of the rows).
    np.testing.assert_allclose(np.sort(np.concatenate([raw["x"], raw["x_val"]]), axis=0),
                               np.sort(all_x, axis=0).astype("float32"))
    np.testing.assert_array_equal(scaled["y"], raw["y"])
    for data in (scaled, digits):  # the training split's statistics: mean 0, sd 1 (or 0)
        np.testing.assert_allclose(data["x"].mean(axis=0), 0, atol=1e-5)
        assert set(np.round(data["x"].std(axis=0), 4)) <= {0.0, 1.0}
    assert raw["x"].max() > 1000  # mean area: what makes He and Xavier die unscaled


# --- breast-cancer: zeros learns the label prior and nothing else ---------------------


def test_breast_cancer_zero_init_plateaus_at_the_entropy_of_the_label_prior(tmp_path):
    """Zero kernels: every hidden unit outputs relu(0) = 0 and gets a zero gradient (its
    outgoing weights are 0), so only the output bias b moves, by gradient descent on
    the mean cross-entropy, whose gradient in b is sigmoid(b) - p (p: share of label 1):

        b <- b - lr (sigmoid(b) - p),   loss(b) = H(p) + KL(p || sigmoid(b))

    The loss falls monotonically to H(p) = -p ln p - (1-p) ln(1-p), the entropy of the
    label prior, and stays there: the plateau. 300 steps are checked against the
    recursion itself; its limit is H(p).
    """
    data = BREAST_CANCER.load_data()
    p = float(data["y"].mean())
    lr = BREAST_CANCER.training["optimizer"]["config"]["learning_rate"]
    steps, epochs = 300, 3
    task = entry._train_task(BREAST_CANCER.build_model(), data,
                              **{**BREAST_CANCER.training, "steps": steps, "epochs": epochs})
    [record], net = task("zeros", 0, str(tmp_path / "run"), None)

    *hidden, output = [layer for layer in net.layers if hasattr(layer, "kernel")]
    for layer in hidden:
        assert not layer.kernel.numpy().any() and not layer.bias.numpy().any(), layer.name
    assert not output.kernel.numpy().any()

    def loss(b):
        q = sigmoid(b)
        return entropy(p) + p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))

    b, trajectory = 0.0, []
    for _ in range(steps):
        b -= lr * (sigmoid(b) - p)
        trajectory.append(loss(b))
    # float32 arithmetic over 300 steps against float64: relative 1e-4 is ample.
    assert float(output.bias.numpy()[0]) == pytest.approx(b, rel=1e-4)
    assert record["loss"] == pytest.approx(loss(b), rel=1e-5)
    # Each logged epoch loss is the mean over that epoch's steps of the loss *before*
    # each step: between the recursion's values at its ends, and decreasing.
    logged = [float(v) for _, v in read_events(tmp_path / "run")["loss"]]
    per_epoch = steps // epochs
    before = [loss(0.0)] + trajectory[:-1]
    for epoch, logged_loss in enumerate(logged):
        chunk = before[epoch * per_epoch:(epoch + 1) * per_epoch]
        assert logged_loss == pytest.approx(sum(chunk) / len(chunk), rel=1e-5)
    assert logged == sorted(logged, reverse=True)
    # The limit: b -> logit(p), loss -> H(p), which is the plateau of the full run.
    for _ in range(BREAST_CANCER.training["steps"] - steps):
        b -= lr * (sigmoid(b) - p)
    assert b == pytest.approx(math.log(p / (1 - p)), rel=1e-6)
    assert loss(b) == pytest.approx(entropy(p), abs=1e-9)
    assert entropy(p) < record["loss"] < math.log(2)


# --- deep-digits: He keeps the signal, Xavier (fan_in) halves its variance per layer ---


@pytest.fixture(scope="module")
def deep_at_init(tmp_path_factory):
    """The step-0 snapshot (before any training step) of Xavier and He, one step each."""
    logdir = tmp_path_factory.mktemp("deep")
    driver.compare(DEEP_DIGITS.build_model(), DEEP_DIGITS.load_data(), ("xavier", "he"),
                   experiment="deep-digits", logdir=logdir,
                   **{**DEEP_DIGITS.training, "steps": 1, "epochs": 1})
    return {scheme: read_events(logdir / "deep-digits" / scheme / "seed-0")
            for scheme in ("xavier", "he")}


HIDDEN = [f"hidden_{index}" for index in range(1, builtin.DEEP_DIGITS_DEPTH)]


def test_deep_digits_forward_signal_at_initialization(deep_at_init):
    """Same seed, same N(0, 1) draws: every Xavier kernel is the He kernel times
    c = 1/sqrt(2), and biases are 0. ReLU is positively homogeneous, so layer l of the
    Xavier net outputs exactly c^l times the He net's: its variance is 2^-l of He's,
    2^-29 at the last hidden layer (2^-30 at the logits), up to float32 rounding.

    He keeps E[a^2] constant in expectation: each layer multiplies it by a factor R with
    E[R] = 1 and Var(R) <= 5/n (a unit's relu(z)^2 has relative variance 5, n = 64
    units), so over the 28 steps from hidden_1 to hidden_29, ln R sums to a drift of
    about -28 * 5/(2n) = -1.1 and a spread of sqrt(28 * 5/n) = 1.5: within
    1.1 + 4 * 1.5 = 7 nats, four standard deviations. Xavier's 2^-28 is 19.4 nats down.
    """
    he, xavier = deep_at_init["he"], deep_at_init["xavier"]
    c = 1 / math.sqrt(2)
    for depth, layer in enumerate(HIDDEN, start=1):
        std_he = value(he, f"activation_std/{layer}", 0)
        std_xavier = value(xavier, f"activation_std/{layer}", 0)
        assert std_xavier == pytest.approx(c ** depth * std_he, rel=1e-3), layer

    def second_moment(events, layer):
        return value(events, f"activation_std/{layer}", 0) ** 2 + \
            value(events, f"activation_mean/{layer}", 0) ** 2

    n, steps = builtin.DEEP_DIGITS_WIDTH, len(HIDDEN) - 1
    tolerance = steps * 5 / (2 * n) + 4 * math.sqrt(steps * 5 / n)
    he_change = math.log(second_moment(he, HIDDEN[-1]) / second_moment(he, HIDDEN[0]))
    xavier_change = math.log(second_moment(xavier, HIDDEN[-1]) / second_moment(xavier, HIDDEN[0]))
    assert abs(he_change) < tolerance
    assert xavier_change == pytest.approx(he_change + steps * math.log(0.5), abs=1e-3)


def test_deep_digits_first_layer_gradient_vanishes_under_xavier(deep_at_init):
    """Backwards the same homogeneity: the error reaching hidden_1 crosses 29 kernels,
    each c times He's, so hidden_1's gradient is c^29 = 2^-14.5 (about 4e-5) times what
    He's net would pass back for the same output error. The output errors differ:
    Xavier's logits are 2^-15 of He's, so its softmax is uniform and each sample's error
    softmax - onehot has norm sqrt(0.9); He's has norm between 0 and sqrt(2). The same
    linear map applied to two errors of comparable size: a factor 8 either way bounds
    that ratio generously, and still puts Xavier's gradient below 2^-11.5 (1/2900) of He's.
    """
    he = value(deep_at_init["he"], f"gradient_norm/{HIDDEN[0]}", 0)
    xavier = value(deep_at_init["xavier"], f"gradient_norm/{HIDDEN[0]}", 0)
    assert he > 0
    assert abs(math.log2(xavier / he) + len(HIDDEN) / 2) < 3
    # The softmax output: uniform under Xavier (the logits are ~2^-15 of He's).
    assert value(deep_at_init["xavier"], "activation_std/output", 0) < \
        1e-3 * value(deep_at_init["he"], "activation_std/output", 0)


# --- the lsuv scheme: data-dependent, after building, before training -----------------


def test_lsuv_scheme_runs_on_a_training_batch_before_training(tmp_path, monkeypatch):
    """The raw breast-cancer features (up to ~2,500): LSUV scales each layer to unit
    pre-activation variance on the first `probe_size` training samples, whatever the
    input scale. Checked on the weights as LSUV leaves them, before the first step."""
    seen = []
    real_lsuv = runs.lsuv

    def spy(model, x_batch, **kwargs):
        assert not model.compiled  # not compiled yet: before training
        record = real_lsuv(model, x_batch, **kwargs)
        seen.append((model, np.array(x_batch),
                     [(w.numpy(), b.numpy()) for w, b in
                      ((layer.kernel, layer.bias) for layer in model.layers)], record))
        return record

    monkeypatch.setattr(runs, "lsuv", spy)
    data = BREAST_CANCER.load_data()
    probe_size = 200
    records = driver.compare(BREAST_CANCER.build_model(), data, ("lsuv",),
                             experiment="breast-cancer", logdir=tmp_path, probe_size=probe_size,
                             **{**BREAST_CANCER.training, "steps": 2, "epochs": 1})
    [(model, x_batch, weights, record)] = seen
    np.testing.assert_array_equal(x_batch, data["x"][:probe_size])
    assert list(record) == [layer.name for layer in model.layers]
    h = x_batch.astype("float64")
    for layer, (kernel, bias) in zip(model.layers, weights):
        assert not bias.any()
        # Orthogonal, then scaled: the columns stay orthogonal with one common norm.
        gram = kernel.T @ kernel
        np.testing.assert_allclose(gram, gram[0, 0] * np.eye(len(gram)), atol=1e-5 * gram[0, 0])
        z = h @ kernel
        assert abs(z.var() - 1) < 0.1, layer.name  # lsuv's default tol
        h = np.maximum(z, 0)
    assert [(r["scheme"], r["steps"]) for r in records] == [("lsuv", 2)]
    run = tmp_path / "breast-cancer" / "lsuv" / "seed-0"
    accumulator = EventAccumulator(str(run))
    accumulator.Reload()
    start = plugin_data_pb2.HParamsPluginData.FromString(
        accumulator.SummaryMetadata("_hparams_/session_start_info").plugin_data.content)
    assert start.session_start_info.hparams["initializer"].string_value == "lsuv"
    assert [step for step, _ in read_events(run)["activations/hidden_1"]][0] == 0


def test_lsuv_is_a_compare_scheme_only(tmp_path):
    with pytest.raises(ValueError, match=r"\['lsuv'\] need training data"):
        driver.probe(("he", "lsuv"), logdir=tmp_path)
    with pytest.raises(ValueError, match=r"Argument `schemes` must .*'lsuv'"):
        reinitialize(BREAST_CANCER.build_model(), "lsuv")


# --- the command line ------------------------------------------------------------------


def test_cli_lists_the_experiments_and_standardizes_into_its_own_folder(tmp_path, capsys):
    status, out, _ = run_main(capsys, "list")
    assert status == 0
    for name in ("breast-cancer", "deep-digits", "lsuv"):
        assert f"\n  {name} " in out
    status, out, _ = run_main(capsys, "compare", "--experiment", "breast-cancer",
                              "--standardize", "--schemes", "he", "--steps", "2", "--epochs",
                              "1", "--logdir", tmp_path, "--quiet")
    assert status == 0, out
    [record] = json.loads((tmp_path / "breast-cancer-standardized" / "results.json").read_text())
    assert (record["scheme"], record["steps"]) == ("he", 2)
    status, _, err = run_main(capsys, "compare", "--experiment", "circles", "--standardize",
                              "--logdir", tmp_path)
    assert status == 2 and "--standardize: only for experiment breast-cancer" in err


def test_stuck_column_compares_with_the_label_priors_entropy():
    """The constant predictor's cross-entropy is the entropy of the training label prior."""
    y = BREAST_CANCER.load_data()["y"]
    assert cli._prior_loss("binary_crossentropy", y) == pytest.approx(entropy(float(y.mean())))
    digits = DEEP_DIGITS.load_data()["y"]
    q = np.bincount(digits) / len(digits)
    assert cli._prior_loss("sparse_categorical_crossentropy", digits) == \
        pytest.approx(-(q * np.log(q)).sum())
    assert cli._prior_loss("mse", y) is None
    assert cli._prior_loss("binary_crossentropy", y * 0.5 + 0.1) is None  # not 0/1 labels
    h = entropy(float(y.mean()))
    records = [{"scheme": "he", "seed": seed, "loss": loss, "accuracy": None,
                "val_accuracy": None, "diverged": loss is None}
               for seed, loss in enumerate((h, 0.995 * h, 0.5 * h, None))]
    text = summary.compare_table(records, baseline=h)
    assert text.splitlines()[0].endswith("diverged  stuck")
    assert text.splitlines()[2].endswith("1/4    2/4")
    assert "stuck" not in summary.compare_table(records)
