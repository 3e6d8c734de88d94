"""The settings of an experiment, `settings.json`: read, compared, and the checks that
keep results of other settings from mixing.

Standard library only.
"""

from .files import read_json

__all__ = ["ADVICE", "read_settings", "changed_keys", "check_previous_settings",
           "check_current_settings"]


def read_settings(path):
    """A `settings.json` as a dict, `None` if there is none; raises if it is damaged."""
    settings = read_json(path, "settings")
    if settings is not None and not isinstance(settings, dict):
        raise ValueError(f"{path} is not a settings file (expected a JSON object)")
    return settings


def changed_keys(settings, previous):
    """The keys whose values differ between two settings dicts, sorted."""
    return sorted(key for key in settings.keys() | previous.keys()
                  if settings.get(key) != previous.get(key))


ADVICE = "Pass overwrite=True (--overwrite) to replace {}, or choose another logdir."


def check_previous_settings(folder, path, settings, records, others):
    """Refuses to open `folder` for `settings` if its results (or a live sweep, `others`)
    are from other settings; the settings of an empty experiment may change."""
    if not records and not others:
        return
    try:
        previous = read_settings(path)
    except ValueError as error:
        raise ValueError(f"{error}. {ADVICE.format('it')}") from None
    previous = {} if previous is None else previous
    if previous == settings:
        return
    changed = ", ".join(changed_keys(settings, previous))
    if records:
        raise ValueError(f"{folder} holds results from other settings (different "
                         f"{changed}). {ADVICE.format('them')}")
    raise ValueError(f"{folder} is being written by another sweep with other settings "
                     f"(different {changed}). Wait for it to finish, or choose another logdir.")


def check_current_settings(folder, path, settings):
    """Refuses to write into `folder` once its settings file is not `settings` any more."""
    try:
        current = read_settings(path)
    except ValueError:
        current = None
    if current != settings:
        changed = ", ".join(changed_keys(settings, current or {}))
        raise ValueError(f"{folder} holds other settings now (different {changed}): it was "
                         "replaced while this sweep ran, and this sweep's new results were "
                         "not written. Choose another logdir.")
