"""The probe's input: `randn(samples, width)` as the article draws it, cached per process
(the article's is 400 MB, and every scheme and seed of a sweep reads the same one)."""

import functools

import numpy as np

__all__ = ["normal_input", "clear_input_cache"]


@functools.lru_cache(maxsize=1)
def normal_input(seed, samples, width):
    # Cached: every scheme of a seed probes the same input, and drawing 10^8 normals
    # costs about as much as the forward pass.
    return np.random.default_rng(seed).standard_normal((samples, width), dtype=np.float32)


def clear_input_cache():
    """Frees the cached probe input (`samples × width` float32: 400 MB for the article's)."""
    normal_input.cache_clear()
