"""Argument checks shared by the package: one wording for every bad-argument `ValueError`.

Each check returns the value in its plain Python form (`int`, `float`) or raises
`ValueError("Argument `<name>` must be <what>. Received: <name>=<value>")`. A `bool`
is never a number here, although Python counts it as an `int`. Standard library
only, so that any module (the store included) may use it.
"""

import math
import numbers

__all__ = ["is_int", "is_positive_int", "positive_int", "non_negative_int", "positive_number",
           "number_at_least", "choice"]


def is_int(value):
    """Whether `value` is an integer (Python or NumPy), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_positive_int(value):
    """Whether `value` is an integer >= 1 (Python or NumPy), not a bool."""
    return is_int(value) and value >= 1


def positive_int(name, value, allow_none=False):
    """`value` as an `int` >= 1 (`None` passes where `allow_none`)."""
    if allow_none and value is None:
        return None
    if not is_positive_int(value):
        _fail(name, value, "a positive int" + (" or None" if allow_none else ""))
    return int(value)


def non_negative_int(name, value):
    """`value` as an `int` >= 0."""
    if not (is_int(value) and value >= 0):
        _fail(name, value, "a non-negative int")
    return int(value)


def positive_number(name, value):
    """`value` as a finite `float` > 0."""
    if not (_is_number(value) and math.isfinite(value) and value > 0):
        _fail(name, value, "a positive finite number")
    return float(value)


def number_at_least(name, value, minimum=0.0):
    """`value` as a finite `float` >= `minimum`."""
    if not (_is_number(value) and math.isfinite(value) and value >= minimum):
        _fail(name, value, f"a finite number >= {minimum:g}")
    return float(value)


def choice(name, value, allowed):
    """`value`, a string among `allowed` (named in sorted order in the error)."""
    if not isinstance(value, str) or value not in allowed:
        _fail(name, value, f"one of {tuple(sorted(allowed))}")
    return value


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _fail(name, value, what):
    raise ValueError(f"Argument `{name}` must be {what}. Received: {name}={value!r}")
