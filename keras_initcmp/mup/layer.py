"""`MuReadout`: a Dense readout layer with μP's output multiplier.

μP's readout computes `W x / m` (times `output_mult`), `m` the width multiplier of its
fan-in (width over base width): its logits stay of the same size as the model widens
while `W` keeps the standard initialization. A model written with `MuReadout` needs
nothing folded into its readout's weights; `keras_initcmp.mup.init` folds the same
multiplier into the kernel of a plain `Dense` readout instead (equivalent for Adam up
to its epsilon, and for SGD).

Example:

>>> outputs = MuReadout(10, width_mult=width / 64)(hidden)

Paper: G. Yang, E. J. Hu et al., "Tensor Programs V", 2022 (arXiv 2203.03466), Appendix
B ("MuReadout"); `microsoft/mup`'s `mup/layer.py`.
"""

import keras

__all__ = ["MuReadout"]


@keras.saving.register_keras_serializable(package="keras_initcmp")
class MuReadout(keras.layers.Dense):
    """Dense with outputs `(output_mult / width_mult) · x W + b`.

    Args:
        units: As `keras.layers.Dense`.
        width_mult: The fan-in's width over the base width (default 1.0: SP).
        output_mult: A tunable constant multiplier (default 1.0).
        readout_zero_init: Start the kernel at zero, as `mup`'s option of that name
            (default False).
        **kwargs: As `keras.layers.Dense`.
    """

    mup_readout = True  # read by keras_initcmp.mup.shape: the multiplier is in the layer

    def __init__(self, units, width_mult=1.0, output_mult=1.0, readout_zero_init=False,
                 **kwargs):
        if readout_zero_init:
            kwargs["kernel_initializer"] = "zeros"
        super().__init__(units, **kwargs)
        for name, value in (("width_mult", width_mult), ("output_mult", output_mult)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"Argument `{name}` must be a positive number. "
                                 f"Received: {name}={value!r}")
        self.width_mult = float(width_mult)
        self.output_mult = float(output_mult)
        self.readout_zero_init = bool(readout_zero_init)

    def call(self, inputs):
        # Scaling the input, not the output, leaves the bias unscaled, as in mup.
        return super().call(inputs * (self.output_mult / self.width_mult))

    def get_config(self):
        return {**super().get_config(), "width_mult": self.width_mult,
                "output_mult": self.output_mult, "readout_zero_init": self.readout_zero_init}
