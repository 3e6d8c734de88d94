"""Reports: the article's figures from a finished experiment, one module per step.

| module | its one job |
| --- | --- |
| `build` | `report(experiment_dir)`: the steps below in order, and what was written |
| `read` | the experiment folder → an `Experiment` (records, settings, every run's series) |
| `aggregate` | `Experiment` → the numbers each figure plots |
| `draw` | those numbers → matplotlib figures (headless; loaded only when drawing) |
| `write` | figures → PNG files, `report.md`, TensorBoard images |
| `palette` | each scheme's colour and marker, the same in every figure |
| `slopes` | a coordinate check's log-log slopes of `l1` on width, verdicts, the table |
| `width` | a coordinate check's figure, `coord_check.md` and its TensorBoard image |

A new figure is its numbers in `aggregate` and its drawing in `draw`. Nothing here
imports TensorFlow.
"""

from keras_initcmp.reports.build import FIGURES, Report, report, scheme_color

__all__ = ["report", "Report", "FIGURES", "scheme_color"]
