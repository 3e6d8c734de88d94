"""Experiments: the built-in comparisons (`builtin`) and the loaders of a user's own
model and data (`loaders`). A new built-in experiment is one `Experiment` in `builtin`;
the coordinate check's built-ins (`width-mlp`, `width-transformer`) are `width`'s.
"""

from keras_initcmp.experiments.builtin import EXPERIMENTS, Experiment, get
from keras_initcmp.experiments.loaders import check_data, load_data, load_model

__all__ = ["Experiment", "EXPERIMENTS", "get", "load_model", "load_data", "check_data"]
