"""Each scheme's colour and marker in the report's figures, the same in every figure.

The registered schemes take theirs from `keras_initcmp.schemes` (the Okabe & Ito
2008 colour-blind-safe palette: the article's four schemes are black, orange, bluish
green and blue, distinct under every common colour-vision deficiency). A scheme the
registry does not know (a folder of the user's own) gets a spare colour of the same
palette, chosen by a hash of its name, so it keeps it from one report to the next.
"""

import hashlib

from keras_initcmp import schemes

__all__ = ["scheme_color", "scheme_marker"]

_SPARE_COLORS = ("#D55E00", "#CC79A7", "#56B4E9", "#F0E442")  # Okabe-Ito; no yellow for the four
_SPARE_MARKER = "o"


def _registered(scheme):
    try:
        return schemes.get(scheme)
    except ValueError:
        return None


def scheme_color(scheme):
    """The scheme's colour, the same in every figure and every report (Okabe–Ito)."""
    registered = _registered(scheme)
    if registered is not None:
        return registered.colour
    digest = int(hashlib.sha256(str(scheme).encode()).hexdigest(), 16)
    return _SPARE_COLORS[digest % len(_SPARE_COLORS)]


def scheme_marker(scheme):
    """The scheme's matplotlib marker in line plots."""
    registered = _registered(scheme)
    return _SPARE_MARKER if registered is None else registered.marker
