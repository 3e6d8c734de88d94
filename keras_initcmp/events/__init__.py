"""TensorBoard event files without TensorFlow: `writer` (scalars, histograms, images,
HParams), `reader` (the report's and the tests' one reader), `layout` (the Custom
Scalars layout at an experiment's root). Built on the `tensorboard` package's protos.
"""

from keras_initcmp.events.reader import read_events
from keras_initcmp.events.writer import EventWriter

__all__ = ["EventWriter", "read_events"]
