"""The run folders of an experiment on disk: how they are named, cleaned up and removed.

`keras_initcmp.store` owns the experiment folder; this is the part of it below the
scheme folders. A finished run is `<scheme>/seed-<k>/`; a run being written is
`<scheme>/.seed-<k>.<session>.<x>/` (renamed into place when finished); a finished run
being replaced is first moved aside to `<scheme>/.replaced-seed-<k>.<x>/`. Standard
library only, imported relatively (see `keras_initcmp.store`).
"""

import os
import re
import shutil

from . import files
from .records import is_seed, plain_name

__all__ = ["RUN", "STAGING", "ASIDE", "scheme_folders", "check_group", "run_key", "group_path", "group_of_path", "clean",
           "remove_runs"]

RUN = re.compile(r"seed-(\d+)")
STAGING = re.compile(r"\.seed-(\d+)\.([0-9a-f]{16})\.\w+")
ASIDE = re.compile(r"\.replaced-seed-(\d+)\.\w+")


def scheme_folders(folder, depth=1):
    """The experiment's scheme folders (every visible sub-folder), or with `depth` > 1
    the run groups' folders that many levels down (`sp/width-64`), as relative paths."""
    found = [name for name in files.listdir(folder)
             if not name.startswith(".") and os.path.isdir(os.path.join(folder, name))]
    if depth == 1:
        return found
    return [os.path.join(name, below) for name in found
            for below in scheme_folders(os.path.join(folder, name), depth - 1)]


def check_group(group):
    """`group` (record field names naming a run's folders) as a tuple, checked."""
    if isinstance(group, str) or not group or not all(isinstance(f, str) for f in group):
        raise ValueError(f"Argument `group` must be a non-empty tuple of record field "
                         f"names. Received: group={group!r}")
    return tuple(group)


def run_key(fields, record):
    """`(group value, seed)` of a record: `(scheme, seed)` for `fields=("scheme",)`."""
    values = tuple(record.get(field) for field in fields)
    return (values if len(values) > 1 else values[0]), record["seed"]


def group_path(fields, group, separator=os.sep):
    """The folders of a run group above `seed-<k>`: `he` for `fields=("scheme",)`,
    `sp/width-64` for `("parametrization", "width")` and `group=("sp", 64)` (an int's
    folder is `<field>-<int>`): a method of `Experiment` then takes `("sp", 64)` where
    it takes a scheme, and `rank` orders the first field."""
    values = tuple(group) if len(fields) > 1 and isinstance(group, (tuple, list)) else (group,)
    if len(values) != len(fields):
        raise ValueError(f"Argument `scheme` must be a tuple of {fields}. Received: "
                         f"scheme={group!r}")
    return separator.join(
        f"{field}-{value}" if is_seed(value) and len(fields) > 1
        else plain_name(field, value) for field, value in zip(fields, values))


def group_of_path(fields, path):
    """The run group of a relative folder path (the inverse of `group_path`)."""
    if len(fields) == 1:
        return path
    values = []
    for field, name in zip(fields, path.split(os.sep)):
        number = name[len(field) + 1:] if name.startswith(f"{field}-") else ""
        values.append(int(number) if number.isdigit() else name)
    return tuple(values)


def clean(folder, live, depth=1):
    """Removes what stopped sweeps left behind: temporary files, and the staging folders
    of sessions not in `live`; finishes a replacement a kill interrupted. Call locked,
    so that no write is in progress."""
    for name in files.listdir(folder):
        if name.startswith(files.TEMPORARY):
            files.remove_file(os.path.join(folder, name))
    for scheme in scheme_folders(folder, depth):
        scheme_dir = os.path.join(folder, scheme)
        removed = False
        for name in files.listdir(scheme_dir):
            path = os.path.join(scheme_dir, name)
            staging, aside = STAGING.fullmatch(name), ASIDE.fullmatch(name)
            if staging and staging.group(2) not in live:
                shutil.rmtree(path, ignore_errors=True)
                removed = True
            elif aside:  # killed while replacing a finished run: finish the swap
                target = os.path.join(scheme_dir, f"seed-{aside.group(1)}")
                if os.path.lexists(target):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    os.rename(path, target)
        if removed:
            files.remove_empty_folder(scheme_dir)


def remove_runs(folder, depth=1):
    """Removes every run folder (finished, staging, set aside) of every scheme."""
    for scheme in scheme_folders(folder, depth):
        scheme_dir = os.path.join(folder, scheme)
        runs = [name for name in files.listdir(scheme_dir)
                if (RUN.fullmatch(name) or STAGING.fullmatch(name) or ASIDE.fullmatch(name))
                and os.path.isdir(os.path.join(scheme_dir, name))]
        for name in runs:
            shutil.rmtree(os.path.join(scheme_dir, name), ignore_errors=True)
        if runs:
            files.remove_empty_folder(scheme_dir)
