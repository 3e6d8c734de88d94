"""The init check: `diagnosis` (`doctor`: one pass at the current weights → a report)
and `findings` (the rules: per-layer numbers → findings in plain words). A new rule or
threshold goes in `findings`. Re-exported lazily (`doctor` runs through the backend).
"""

from keras_initcmp.lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "doctor": ("keras_initcmp.checkup.diagnosis", "doctor"),
    "DoctorReport": ("keras_initcmp.checkup.diagnosis", "DoctorReport"),
    "Finding": ("keras_initcmp.checkup.findings", "Finding"),
    "LEVELS": ("keras_initcmp.checkup.findings", "LEVELS"),
})
