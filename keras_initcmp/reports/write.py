"""Writing the report: the PNG files, `report.md`, and the images in TensorBoard.

Everything lands in the experiment folder: `<figure>.png` (an earlier report's PNG of
a figure not made this time is removed), `report.md`, and one root event file
`events.out.tfevents.*.report` with the figures as images (tags `report/<figure>`,
the caption as description), replaced on every report. TensorFlow is not needed:
the images go through `keras_initcmp.events.writer`. A file that cannot be written is a
one-line `ValueError`.
"""

import os
import struct

import numpy as np
from tensorboard.compat.proto import summary_pb2
from tensorboard.plugins.image import metadata as image_metadata
from tensorboard.util import tensor_util

from keras_initcmp import store
from keras_initcmp.events.writer import EventWriter
from keras_initcmp.reports.aggregate import MOMENT_WORDS
from keras_initcmp.measurement import tags

__all__ = ["save_figures", "caption", "write_markdown", "log_images", "png_size"]

_TITLES = {"cost_curves": "Cost curves",
           "histograms_init": "Activation histograms at initialization",
           "histograms_end": "Activation histograms at the end of training",
           "signal_by_depth": "Signal by depth"}


def save_figures(folder, figures, names, dpi):
    """Saves each `{name: Figure}` as `<folder>/<name>.png`; removes the PNG of every
    other name in `names` (from an earlier report). Returns `{name: path}`."""
    paths = {}
    for name in names:
        path = os.path.join(folder, f"{name}.png")
        if name in figures:
            _writing(folder, lambda: figures[name].savefig(path, dpi=dpi, facecolor="white"))
            paths[name] = path
        elif os.path.isfile(path):
            os.remove(path)
    return paths


def _writing(folder, write):
    try:
        write()
    except OSError as error:
        raise ValueError(f"cannot write the report into {folder}: {error}") from None


# --- captions and report.md ---------------------------------------------------------


def caption(name, data, log_scale):
    """The text under a figure, in `report.md` and in TensorBoard."""
    if name == "cost_curves":
        return ("Cost against training steps, one line per scheme: the mean over seeds, the "
                "band spans their min and max; validation dashed. Each point is the mean over "
                "one logged chunk of steps." + (" Loss on a log scale." if log_scale else "")
                + " A flat line is a net that does not learn (zeros: symmetry never broken).")
    if name.startswith("histograms"):
        return ("Rows are schemes, columns layers; each column shares its x-range, so a "
                "distribution collapsing to 0 shows as a spike, saturation as mass at ±1. "
                "σ is the layer's activation std, =0 the share of exact zeros (dead ReLU)"
                + (", dead the share of units that are 0 for every probe sample"
                   if any(panel.get("dead_units") is not None for row in data["panels"].values()
                          for panel in row.values()) else "") + ".")
    return ("Activation std per layer (log scale), one line per scheme: flat means the "
            "signal keeps its size through depth; falling means it vanishes, rising that it "
            "explodes."
            + (" Dashed in the scheme's colour: the mean-field prediction at initialization "
               "(Poole et al. 2016), where the scheme has one." if data.get("predicted") else "")
            + (" Gradient norm per layer likewise, where gradients were logged."
               if tags.GRADIENT_NORM in data["quantities"] else ""))


def write_markdown(folder, experiment, figures, captions, data, missing):
    """Writes `<folder>/report.md`; returns its path."""
    path = os.path.join(folder, "report.md")
    text = "\n".join(_markdown(experiment, figures, captions, data, missing))

    def write():
        with open(path, "w") as file:
            file.write(text)
    _writing(folder, write)
    return path


def _markdown(experiment, figures, captions, data, missing):
    lines = [f"# {experiment.name}: initialization report", "", _summary_line(experiment), ""]
    if missing:
        lines += ["## Missing", ""] + [f"- {line}" for line in missing] + [""]
    if experiment.kind == "compare":
        lines += _final_table(data["final"])
    for name in figures:
        lines += [f"## {_TITLES[name]}", "", f"![{_TITLES[name]}]({name}.png)", "",
                  captions[name], ""]
    if experiment.kind == "probe":
        lines += _probe_tables(data["std_table"])
    else:
        lines += _depth_tables(data.get("signal_by_depth"))
    lines += _dead_unit_tables(data.get("dead_units"))
    return lines + ["Figures are also in TensorBoard (Images, tags `report/...`): "
                    "`tensorboard --logdir <this folder>`.", ""]


def _summary_line(experiment):
    settings = experiment.settings
    if experiment.kind == "probe":
        sizes = settings.get("sizes")
        return ("`keras-initcmp probe`: forward pass of N(0, 1) data at initialization, "
                "no training"
                + (f"; layers {list(sizes)}" if sizes else "")
                + (f", activation {settings['activation']}" if settings.get("activation") else "")
                + (f", {settings['samples']:,} samples" if settings.get("samples") else "")
                + ".")
    runs = len({(r["scheme"], r["seed"]) for r in experiment.records})
    detail = []
    if settings.get("epochs") and settings.get("steps_per_epoch"):
        detail.append(f"{settings['epochs'] * settings['steps_per_epoch']:,} steps "
                      f"logged in {settings['epochs']} chunks")
    if settings.get("batch_size"):
        detail.append(f"batch size {settings['batch_size']}")
    return (f"`keras-initcmp compare`: {runs} runs "
            f"({', '.join(dict.fromkeys(r['scheme'] for r in experiment.records))})"
            + (f"; {', '.join(detail)}" if detail else "") + ".")


def _final_table(final):
    lines = ["## Final numbers", "", "Mean over seeds (± sd), at the final weights.", "",
             "| scheme | seeds | steps | loss | accuracy | val loss | val accuracy | diverged |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for scheme, row in final.items():
        loss = _number(row["loss"])
        if row["loss_sd"] is not None:
            loss += f" ± {row['loss_sd']:.2g}"
        lines.append(f"| {scheme} | {row['seeds']} | {row['steps']:,} | {loss} | "
                     f"{_number(row['accuracy'], '{:.3f}')} | {_number(row['val_loss'])} | "
                     f"{_number(row['val_accuracy'], '{:.3f}')} | "
                     f"{row['diverged']}/{row['seeds']} |")
    return lines + [""]


def _probe_tables(table):
    layers = table["layers"]

    def column(key):
        return {scheme: [values[layer][key] for layer in layers]
                for scheme, values in table["schemes"].items()}
    measured, predicted = column("std"), column("predicted_std")
    rows = {}
    for scheme, values in measured.items():
        rows[scheme] = values
        if any(value is not None for value in predicted[scheme]):
            rows[f"{scheme}, predicted"] = predicted[scheme]
    lines = ["## Activation std per layer", "",
             "Mean over seeds, over all samples (`results.json`)"
             + ("; under a scheme's row its mean-field prediction (Poole et al. 2016)"
                if len(rows) > len(measured) else "") + ".", ""]
    lines += _layer_table(layers, rows)
    if any(any(row) for row in column("zero_fraction").values()):
        lines += ["", "Share of exact zeros per layer:", ""]
        lines += _layer_table(layers, column("zero_fraction"), "{:.0%}")
    return lines + [""]


def _depth_tables(depth):
    if not depth or tags.STD not in depth["quantities"]:
        return []
    lines = []
    for moment in depth["moments"]:
        by_scheme = depth["quantities"][tags.STD].get(moment)
        if by_scheme:
            lines += [f"Activation std per layer at {MOMENT_WORDS[moment]} "
                      "(probe batch, mean over seeds):", ""]
            lines += _layer_table(depth["layers"], {
                scheme: line["mean"] for scheme, line in by_scheme.items()})
            lines.append("")
    return lines


def _dead_unit_tables(dead):
    """Per moment logged: the share of dead units per scheme and layer."""
    if not dead:
        return []
    lines = []
    for moment in dead["moments"]:
        if not any(any(row) for row in dead["lines"][moment].values()):
            continue  # no unit dead anywhere: as with exact zeros, no table of 0%
        lines += [f"Dead units per layer at {MOMENT_WORDS[moment]} (share of units that are "
                  "0 for every probe sample, `activation_dead_units`, mean over seeds):", ""]
        lines += _layer_table(dead["layers"], dead["lines"][moment], "{:.0%}")
        lines.append("")
    return lines


def _layer_table(layers, rows, form="{:.3g}"):
    out = ["| scheme | " + " | ".join(layers) + " |",
           "| --- | " + " | ".join("---:" for _ in layers) + " |"]
    for scheme, values in rows.items():
        out.append(f"| {scheme} | " + " | ".join(_number(v, form) for v in values) + " |")
    return out


def _number(value, form="{:.4g}"):
    return "–" if value is None else form.format(value)


# --- TensorBoard --------------------------------------------------------------------


def log_images(folder, figures, captions):
    """The figures as images of the root run, in one event file replaced every time."""
    with _replacing_root_event_file(folder, store.REPORT_SUFFIX) as log_dir:
        writer = EventWriter(log_dir, filename_suffix=store.REPORT_SUFFIX)
        try:
            for name, path in figures.items():
                with open(path, "rb") as file:
                    png = file.read()
                writer.summary(_image_summary(f"report/{name}", png, captions.get(name)), step=0)
        finally:
            writer.close()


def _replacing_root_event_file(folder, suffix):
    """Yields the folder to write a new root event file ending in `suffix` into; when the
    block ends, the older ones are removed (if it raises, the new ones are), under the
    experiment's lock, so a sweep's layout file and a report never clash."""
    return store.Experiment.from_folder(folder).replace_root_event_file(suffix)


def _image_summary(tag, png, description):
    """One PNG as `tf.summary.image` writes it: `[width, height, png]` strings, images
    plugin, the caption as description (`EventWriter.image` takes no description)."""
    width, height = png_size(png)
    metadata = image_metadata.create_summary_metadata(display_name=None,
                                                      description=description)
    tensor = np.array([str(width).encode(), str(height).encode(), png], dtype=object)
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(
        tag=tag, metadata=metadata, tensor=tensor_util.make_tensor_proto(tensor))])


def png_size(png):
    """`(width, height)` of PNG bytes, from the IHDR chunk that opens every PNG."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    return struct.unpack(">II", png[16:24])
