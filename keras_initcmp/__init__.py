"""keras_initcmp: see and compare weight-initialization schemes in Keras 3 and TensorBoard."""

__version__ = "0.1.0"

from keras_initcmp import initializers
from keras_initcmp.callbacks import ActivationHistograms
from keras_initcmp.stats import activation_stats
from keras_initcmp.lsuv import lsuv
from keras_initcmp.driver import compare, probe, reinitialize
from keras_initcmp.report import report
