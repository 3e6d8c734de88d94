"""Model-type matrix on the TensorFlow backend: the callback, `activation_stats`,
`reinitialize` and `compare` on every kind of model DESIGN.md promises ("Works with
any built Keras model"): subclassed, nested (Sequential and functional blocks), dict
inputs, multi-output, `keras.applications`, keras_hub (BERT text classifier, ViT
image classifier).

Every statistic is checked against NumPy on layer outputs obtained independently of
the package's recording: through `keras.Model(graph.input, layer.output)` where a
functional graph exists, by calling the sublayers by hand for the subclassed model.
The keras.applications and keras_hub cases are tiny configurations (and skip where
keras_hub is not installed), so the file stays within a few minutes on two cores.
"""

import dataclasses
import json
import math
import os
from typing import Callable, Optional

import keras
import numpy as np
import pytest

import keras_initcmp
from keras_initcmp.measurement.recording import layer_paths
from events import read_events, steps, value

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                reason="the matrix runs in-process on the TensorFlow backend")

# What `reinitialize` re-draws (its docstring): weight matrices by their Keras names.
KERNEL_NAMES = ("kernel", "depthwise_kernel", "pointwise_kernel", "recurrent_kernel",
                "embeddings")
SLOW = os.environ.get("KERAS_INITCMP_SLOW_TESTS") == "1"
SAMPLES = 32
BATCH = 8
PROBE = 16


# --- the cases -----------------------------------------------------------------------


@dataclasses.dataclass
class Case:
    """One model type: how to build it, its data, its layer paths, its reference outputs."""

    build: Callable[[], keras.Model]  # a compiled, built model
    data: Callable[[], tuple]  # (x, y) with SAMPLES samples
    paths: tuple  # layer paths that must be observed (all of them, in call order)
    reference: Callable  # (model, x) -> {path: np.ndarray}, independent of recording
    layers: Optional[list] = None  # a selection by path and pattern, and what it selects
    selected: tuple = ()
    callback_layers: Optional[list] = None  # `layers=` for the callback (None: all)
    slow_compare: bool = False  # `compare` only with KERAS_INITCMP_SLOW_TESTS=1


def _rng(seed=0):
    return np.random.default_rng(seed)


def _numpy(tensors):
    return [np.asarray(keras.ops.convert_to_numpy(t), np.float64) for t in tensors]


def graph_outputs(graph, names, inputs):
    """Outputs of `graph`'s layers `names` on `inputs`, by a separate functional model."""
    # A Sequential's `input` is what the outer graph feeds it; its own is `inputs`.
    own_inputs = graph.inputs[0] if len(graph.inputs) == 1 else graph.input
    probe_model = keras.Model(own_inputs, [graph.get_layer(n).output for n in names])
    return dict(zip(names, _numpy(keras.tree.flatten(probe_model(inputs, training=False)))))


def prefixed(prefix, outputs):
    return {f"{prefix}/{name}": output for name, output in outputs.items()}


# subclassed: a user-defined call; a custom block with sublayers is one unit


class Block(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.first = keras.layers.Dense(units, activation="tanh", name="first")
        self.second = keras.layers.Dense(units, name="second")

    def call(self, x):
        return self.second(self.first(x)) + x


class Subclassed(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = keras.layers.Dense(32, activation="relu", name="hidden")
        self.block = Block(32, name="block")
        self.drop = keras.layers.Dropout(0.5, name="drop")
        self.logits = keras.layers.Dense(2, name="logits")

    def call(self, x, training=False):
        h = self.block(self.hidden(x))
        return self.logits(self.drop(h, training=training))


def build_subclassed():
    keras.backend.clear_session()  # fresh auto-names (vi_t_backbone, not vi_t_backbone_3)
    keras.utils.set_random_seed(0)
    model = Subclassed(name="subclassed")
    model(np.zeros((1, 24), np.float32))
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def dense_data(width=24, classes=2):
    def data():
        x = _rng().normal(size=(SAMPLES, width)).astype(np.float32)
        return x, (x[:, 0] > 0).astype(np.int32) % classes
    return data


def subclassed_reference(model, x):
    hidden = model.hidden(x)
    block = model.block(hidden)
    drop = model.drop(block, training=False)
    return dict(zip(("hidden", "block", "drop", "logits"),
                    _numpy([hidden, block, drop, model.logits(drop)])))


# functional with a nested Sequential and a nested functional block


def build_nested():
    keras.backend.clear_session()  # fresh auto-names (vi_t_backbone, not vi_t_backbone_3)
    keras.utils.set_random_seed(0)
    sequential = keras.Sequential([
        keras.Input((32,)),
        keras.layers.Dense(32, activation="relu", name="seq_dense_1"),
        keras.layers.Dense(24, activation="tanh", name="seq_dense_2"),
    ], name="seq_block")
    block_input = keras.Input((24,))
    h = keras.layers.Dense(16, activation="relu", name="func_dense_1")(block_input)
    h = keras.layers.Dense(16, activation="sigmoid", name="func_dense_2")(h)
    functional = keras.Model(block_input, h, name="func_block")
    inputs = keras.Input((24,))
    pre = keras.layers.Dense(32, activation="relu", name="pre")(inputs)
    out = keras.layers.Dense(2, activation="softmax", name="head")(functional(sequential(pre)))
    model = keras.Model(inputs, out, name="nested")
    model.compile("sgd", "sparse_categorical_crossentropy")
    return model


def nested_reference(model, x):
    sequential, functional = model.get_layer("seq_block"), model.get_layer("func_block")
    outer = graph_outputs(model, ["pre", "head"], x)
    inner = graph_outputs(sequential, ["seq_dense_1", "seq_dense_2"], outer["pre"])
    block = graph_outputs(functional, ["func_dense_1", "func_dense_2"],
                          inner["seq_dense_2"])
    return {"pre": outer["pre"], **prefixed("seq_block", inner),
            **prefixed("func_block", block), "head": outer["head"]}


# dict inputs: two named inputs


def build_dict_inputs():
    keras.backend.clear_session()  # fresh auto-names (vi_t_backbone, not vi_t_backbone_3)
    keras.utils.set_random_seed(0)
    a, b = keras.Input((20,), name="a"), keras.Input((12,), name="b")
    ha = keras.layers.Dense(32, activation="relu", name="dense_a")(a)
    hb = keras.layers.Dense(8, activation="tanh", name="dense_b")(b)
    joined = keras.layers.Concatenate(name="join")([ha, hb])
    out = keras.layers.Dense(1, activation="sigmoid", name="out")(joined)
    model = keras.Model({"a": a, "b": b}, out, name="dict_inputs")
    model.compile("sgd", "binary_crossentropy")
    return model


def dict_data():
    rng = _rng()
    x = {"a": rng.normal(size=(SAMPLES, 20)).astype(np.float32),
         "b": rng.normal(size=(SAMPLES, 12)).astype(np.float32)}
    return x, (x["a"][:, 0] > 0).astype(np.float32)


def dict_reference(model, x):
    return graph_outputs(model, ["dense_a", "dense_b", "join", "out"], x)


# multi-output: two heads, two losses


def build_multi_output():
    keras.backend.clear_session()  # fresh auto-names (vi_t_backbone, not vi_t_backbone_3)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((24,))
    trunk = keras.layers.Dense(48, activation="relu", name="trunk")(inputs)
    classes = keras.layers.Dense(3, activation="softmax", name="class_head")(trunk)
    regression = keras.layers.Dense(1, name="reg_head")(trunk)
    model = keras.Model(inputs, [classes, regression], name="multi_output")
    model.compile("sgd", ["sparse_categorical_crossentropy", "mse"])
    return model


def multi_output_data():
    x = _rng().normal(size=(SAMPLES, 24)).astype(np.float32)
    return x, [(x[:, 0] > 0).astype(np.int32) + (x[:, 1] > 0), x[:, :1] * 2]


def multi_output_reference(model, x):
    return graph_outputs(model, ["trunk", "class_head", "reg_head"], x)


# keras.applications


def build_mobilenet():
    keras.backend.clear_session()  # fresh auto-names (vi_t_backbone, not vi_t_backbone_3)
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), alpha=0.35,
                                           classes=3)
    model.compile("sgd", "sparse_categorical_crossentropy")
    return model


def image_data(size, classes):
    def data():
        rng = _rng()
        x = rng.uniform(-1, 1, size=(SAMPLES, size, size, 3)).astype(np.float32)
        return x, rng.integers(0, classes, SAMPLES).astype(np.int32)
    return data


def all_layers_reference(model, x):
    names = [layer.name for layer in model.layers
             if not isinstance(layer, keras.layers.InputLayer)]
    return graph_outputs(model, names, x)


MOBILENET_PATHS = ("Conv1", "bn_Conv1", "Conv1_relu", "block_1_expand", "block_1_project_BN",
                   "out_relu", "predictions") + (
    ("expanded_conv_depthwise", "block_16_project", "global_average_pooling2d") if SLOW else ())


# keras_hub: BERT text classifier (dict token_ids/segment_ids/padding_mask)

VOCABULARY = 64
SEQUENCE = 8


def build_bert():
    keras_hub = pytest.importorskip("keras_hub")
    keras.backend.clear_session()  # fresh auto-names (vi_t_backbone, not vi_t_backbone_3)
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=VOCABULARY, num_layers=2, num_heads=2, hidden_dim=16,
        intermediate_dim=32, max_sequence_length=16)
    model = keras_hub.models.BertTextClassifier(backbone=backbone, num_classes=2,
                                                preprocessor=None)
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def bert_data():
    rng = _rng()
    lengths = rng.integers(3, SEQUENCE + 1, SAMPLES)
    mask = (np.arange(SEQUENCE)[None, :] < lengths[:, None]).astype(np.int32)
    x = {"token_ids": rng.integers(1, VOCABULARY, (SAMPLES, SEQUENCE)).astype(np.int32) * mask,
         "segment_ids": (np.arange(SEQUENCE)[None, :] >= lengths[:, None] // 2).astype(np.int32)
         * mask,
         "padding_mask": mask}
    return x, (lengths > SEQUENCE // 2).astype(np.int32)


BERT_INNER = ("token_embedding", "position_embedding", "segment_embedding", "embeddings_add",
              "embeddings_layer_norm", "embeddings_dropout", "transformer_layer_0",
              "transformer_layer_1", "pooled_dense")


def bert_reference(model, x):
    backbone = model.backbone
    return {**prefixed(backbone.name, graph_outputs(backbone, list(BERT_INNER), x)),
            **graph_outputs(model, ["classifier_dropout", "logits"], x)}


# keras_hub: ViT image classifier (a vision backbone, one array input)


def build_vit():
    keras_hub = pytest.importorskip("keras_hub")
    keras.backend.clear_session()  # fresh auto-names (vi_t_backbone, not vi_t_backbone_3)
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.ViTBackbone(
        image_shape=(16, 16, 3), patch_size=4, num_layers=2, num_heads=2, hidden_dim=16,
        mlp_dim=32)
    model = keras_hub.models.ViTImageClassifier(backbone=backbone, num_classes=2,
                                                preprocessor=None)
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def vit_reference(model, x):
    backbone = model.backbone
    inner = graph_outputs(backbone, ["vit_patching_and_embedding", "vit_encoder"], x)
    return {**prefixed(backbone.name, inner),
            **graph_outputs(model, ["output_dropout", "predictions"], x)}


CASES = {
    "subclassed": Case(build_subclassed, dense_data(), ("hidden", "block", "drop", "logits"),
                       subclassed_reference, layers=["block", "logit*"],
                       selected=("block", "logits")),
    "nested": Case(build_nested, dense_data(),
                   ("pre", "seq_block/seq_dense_1", "seq_block/seq_dense_2",
                    "func_block/func_dense_1", "func_block/func_dense_2", "head"),
                   nested_reference, layers=["func_block/*", "seq_block/seq_dense_2"],
                   selected=("seq_block/seq_dense_2", "func_block/func_dense_1",
                             "func_block/func_dense_2")),
    "dict_inputs": Case(build_dict_inputs, dict_data, ("dense_a", "dense_b", "join", "out"),
                        dict_reference,
                        layers=["dense_*"], selected=("dense_a", "dense_b")),
    "multi_output": Case(build_multi_output, multi_output_data,
                         ("trunk", "class_head", "reg_head"), multi_output_reference,
                         layers=["*_head"],
                         selected=("class_head", "reg_head")),
    "applications_mobilenet_v2": Case(build_mobilenet, image_data(32, 3), MOBILENET_PATHS,
                                      all_layers_reference,
                                      callback_layers=None if SLOW else [
                                          "Conv1", "bn_Conv1", "Conv1_relu", "block_1_*",
                                          "out_relu", "predictions"],
                                      slow_compare=True, layers=["block_1_*"],
                                      selected=tuple(f"block_1_{s}" for s in (
                                          "expand", "expand_BN", "expand_relu", "pad",
                                          "depthwise", "depthwise_BN", "depthwise_relu",
                                          "project", "project_BN"))),
    "keras_hub_bert": Case(build_bert, bert_data,
                           tuple(f"bert_backbone/{n}" for n in BERT_INNER)
                           + ("classifier_dropout", "logits"),
                           bert_reference,
                           layers=["bert_backbone/transformer_layer_*"],
                           selected=("bert_backbone/transformer_layer_0",
                                     "bert_backbone/transformer_layer_1")),
    "keras_hub_vit": Case(build_vit, image_data(16, 2),
                          ("vi_t_backbone/vit_patching_and_embedding",
                           "vi_t_backbone/vit_encoder", "output_dropout", "predictions"),
                          vit_reference, layers=["vi_t_backbone/*"],
                          selected=("vi_t_backbone/vit_patching_and_embedding",
                                    "vi_t_backbone/vit_encoder")),
}
# Cases whose every layer is checked against the reference (others: `paths`).
ALL_LAYERS = {"applications_mobilenet_v2"}


def head(structure, n):
    return keras.tree.map_structure(lambda array: array[:n], structure)


def numpy_stats(output):
    return {"mean": output.mean(), "std": output.std(),
            "zero_fraction": float(np.mean(output == 0))}


def assert_close(measured, expected, where):
    # rel 1e-4, and an absolute floor at the output's scale for means that are ~0
    # (LayerNorm outputs, centred data): float32 sums, not the statistic, differ there.
    floor = 1e-5 * (expected["std"] + abs(expected["mean"])) + 1e-7
    for key in ("mean", "std", "zero_fraction"):
        assert measured[key] == pytest.approx(expected[key], rel=1e-4, abs=floor), (where, key)


@pytest.fixture(params=sorted(CASES))
def case(request):
    return request.param, CASES[request.param]


# --- (a) the callback in fit ------------------------------------------------------------


def test_callback_tags_and_step_zero_statistics(case, tmp_path):
    name, case = case
    model = case.build()
    x, y = case.data()
    probe, labels = head(x, PROBE), head(y, PROBE)
    reference = case.reference(model, probe)  # the weights of step 0
    callback = keras_initcmp.ActivationHistograms(tmp_path, probe, probe_labels=labels,
                                                  layers=case.callback_layers)
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[callback])

    events = read_events(tmp_path)
    observed = {tag.split("/", 1)[1] for tag in events if tag.startswith("activations/")}
    assert set(case.paths) <= observed, sorted(set(case.paths) - observed)
    checked = observed if name in ALL_LAYERS else case.paths
    if name not in ALL_LAYERS:
        assert observed == set(case.paths)
    assert set(reference) >= set(checked)
    for path in checked:
        for kind in ("activations", "activation_std", "activation_mean",
                     "activation_zero_fraction"):
            assert steps(events, f"{kind}/{path}") == [0, 1], (kind, path)
        output = reference[path]
        rows = value(events, f"activations/{path}", 0)
        assert rows[:, 2].sum() == output.size, path
        assert_close({key: value(events, f"activation_{key}/{path}", 0)
                      for key in ("mean", "std", "zero_fraction")},
                     numpy_stats(output), (name, path))
    # gradients: every observed layer with trainable weights has a norm, finite
    layers = {path: layer for path, layer in layer_paths(model).items()
              if path in observed}
    trainable = [path for path, layer in layers.items() if layer.trainable_weights]
    assert trainable
    for path in trainable:
        assert f"gradient_norm/{path}" in events, path
        assert math.isfinite(value(events, f"gradient_norm/{path}", 0)), path
        assert any(tag.startswith(f"gradients/{path}/") for tag in events), path


# --- (b) activation_stats ------------------------------------------------------------


def test_activation_stats_and_selection(case):
    name, case = case
    model = case.build()
    x, _ = case.data()
    probe = head(x, PROBE)
    reference = case.reference(model, probe)
    stats = keras_initcmp.activation_stats(model, probe, layers=case.callback_layers,
                                           batch_size=PROBE // 2)
    if name in ALL_LAYERS:
        assert set(case.paths) <= set(stats)
        assert set(stats) <= set(reference)
    else:
        # In call order: the order the forward pass ran them (a functional graph may
        # run two heads of the same depth in either order).
        assert set(stats) == set(case.paths)
        assert list(stats)[0] == case.paths[0]
    for path, layer_stats in stats.items():
        assert_close(layer_stats, numpy_stats(reference[path]), (name, path))
    chosen = keras_initcmp.activation_stats(model, probe, layers=case.layers)
    assert set(chosen) == set(case.selected)
    for path in case.selected:
        assert chosen[path]["std"] == pytest.approx(stats[path]["std"], rel=1e-5, abs=1e-7)
    with pytest.raises(ValueError, match="no_such_layer"):
        keras_initcmp.activation_stats(model, probe, layers=["no_such_layer/*"])


# --- (c) reinitialize ----------------------------------------------------------------


def keras_fans(shape):
    """Fans as `keras.initializers.VarianceScaling` computes them."""
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def variance_z(values, expected_variance):
    """(sample variance about 0 - expected) in standard errors: Var(s²) = 2σ⁴/n (normal)."""
    values = np.asarray(values, np.float64).ravel()
    return (np.mean(values**2) - expected_variance) / (expected_variance * math.sqrt(2 / values.size))


def test_reinitialize_he_redraws_every_kernel(case):
    name, case = case
    model = case.build()
    before = {id(v): np.array(v.numpy()) for v in model.weights}
    net = keras_initcmp.reinitialize(model, "he", seed=0)
    assert list(layer_paths(net)) == list(layer_paths(model))  # same layer paths: same tags
    kernels = [v for v in net.weights if v.name in KERNEL_NAMES]
    assert kernels
    # nothing that looks like a weight matrix escapes the re-draw
    names = {v.name for v in net.weights}
    assert not {n for n in names if ("kernel" in n or "embedding" in n)} - set(KERNEL_NAMES)
    large = 0
    for variable in kernels:
        values = np.asarray(variable.numpy())
        fan_in, _ = keras_fans(tuple(variable.shape))
        if net is model:  # in place (not clonable): the values must have changed
            assert not np.array_equal(values, before[id(variable)]), variable.path
        z = variance_z(values, 2.0 / fan_in)
        assert abs(z) < 5, (variable.path, variable.shape, z)
        assert abs(np.mean(values)) < 5 * math.sqrt(2.0 / fan_in / values.size), variable.path
        if values.size >= 500:  # negative control: Xavier's 1/fan_in is rejected
            large += 1
            assert abs(variance_z(values, 1.0 / fan_in)) > 5, variable.path
    assert large
    for variable in net.weights:
        if variable.name == "bias":
            assert not np.any(np.asarray(variable.numpy())), variable.path
    # the re-drawn model still runs, and its statistics are finite
    x, _ = case.data()
    stats = keras_initcmp.activation_stats(net, head(x, 4), layers=case.layers)
    assert all(math.isfinite(s["std"]) for s in stats.values())


# --- (d) compare ---------------------------------------------------------------------


def test_compare_zeros_and_he(case, tmp_path):
    name, case = case
    model = case.build()
    x, y = case.data()
    if case.slow_compare and not SLOW:
        pytest.skip("minutes on two cores; set KERAS_INITCMP_SLOW_TESTS=1")
    records = keras_initcmp.compare(model, (x, y), schemes=("zeros", "he"), steps=4, epochs=2,
                                    batch_size=BATCH, probe_size=PROBE, logdir=tmp_path,
                                    experiment=name)
    assert [r["scheme"] for r in records] == ["zeros", "he"]
    for record in records:
        assert record["steps"] == 4 and record["epochs"] == 2, record
        assert record["loss"] is not None and math.isfinite(record["loss"]), record
        assert record["diverged"] is False
    folder = tmp_path / name
    assert json.loads((folder / "results.json").read_text()) == records
    assert (folder / "results.csv").exists()
    for scheme in ("zeros", "he"):
        run = folder / scheme / "seed-0"
        tags = set()
        for root, _, files in os.walk(run):
            if any("tfevents" in f for f in files):
                tags |= set(read_events(root))
        for path in case.paths[:3]:
            assert f"activations/{path}" in tags, (scheme, path)
