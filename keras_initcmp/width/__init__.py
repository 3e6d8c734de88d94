"""Width: what initialization does as the network grows wider (the coordinate check).

- `coordinates`: `coord_check`, the sweep over parametrizations × widths × seeds;
- `training`: one run (`CoordTask`): initialize, train a few steps, record `l1`;
- `builders`: `build(width)` from a callable, a built-in name or `module:function`;
- the built-in width experiments (`width-mlp`, `width-transformer`) are
  `keras_initcmp.experiments.width`; the `coord-check` command is `keras_initcmp.cli.width`;
  the slopes, the verdicts and the figure are `keras_initcmp.reports.slopes` and `.width`.

μP itself is `keras_initcmp.mup`.
"""

from keras_initcmp.width.coordinates import coord_check

__all__ = ["coord_check"]
