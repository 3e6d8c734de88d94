"""Initializers by name: `SCHEMES` (the registry's names) and `get`.

Which schemes exist, under which names, is `keras_initcmp.schemes`' business; this
module only reads that registry.
"""

import keras

from keras_initcmp import schemes as _schemes

__all__ = ["SCHEMES", "get"]


SCHEMES = _schemes.names(include_data_dependent=False)
"""Registry names accepted by `get` (`keras_initcmp.schemes`, data-dependent ones
excluded), in the article's order first, aliases last."""


def get(name_or_config, seed=None):
    """Return a fresh initializer for a registry name or a Keras config.

    Args:
        name_or_config: One of `SCHEMES` (`"he"`, ...), or a dict as made by
            `keras.initializers.serialize` / `get_config` round-trips.
        seed: An int or `None`. Replaces the seed of the scheme or config, so
            that a model builder can give every layer its own, distinct seed.

    Returns:
        A new initializer instance; never one shared with another call.

    Example:

    >>> layer = keras.layers.Dense(3, kernel_initializer=get("he", seed=1))
    """
    if isinstance(name_or_config, dict):
        initializer = keras.initializers.deserialize(name_or_config)
        if seed is None:
            return initializer
        config = initializer.get_config()
        if "seed" in config:
            config["seed"] = seed
        return type(initializer).from_config(config)
    if not isinstance(name_or_config, str) or name_or_config not in SCHEMES:
        raise ValueError(
            f"Argument `name_or_config` must be one of {tuple(sorted(SCHEMES))} "
            f"or an initializer config dict. Received: name_or_config={name_or_config!r}"
        )
    return _schemes.get(name_or_config).initializer(seed)
