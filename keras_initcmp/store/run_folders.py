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

__all__ = ["RUN", "STAGING", "ASIDE", "scheme_folders", "clean", "remove_runs"]

RUN = re.compile(r"seed-(\d+)")
STAGING = re.compile(r"\.seed-(\d+)\.([0-9a-f]{16})\.\w+")
ASIDE = re.compile(r"\.replaced-seed-(\d+)\.\w+")


def scheme_folders(folder):
    """The experiment's scheme folders (every visible sub-folder)."""
    return [name for name in files.listdir(folder)
            if not name.startswith(".") and os.path.isdir(os.path.join(folder, name))]


def clean(folder, live):
    """Removes what stopped sweeps left behind: temporary files, and the staging folders
    of sessions not in `live`; finishes a replacement a kill interrupted. Call locked,
    so that no write is in progress."""
    for name in files.listdir(folder):
        if name.startswith(files.TEMPORARY):
            files.remove_file(os.path.join(folder, name))
    for scheme in scheme_folders(folder):
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


def remove_runs(folder):
    """Removes every run folder (finished, staging, set aside) of every scheme."""
    for scheme in scheme_folders(folder):
        scheme_dir = os.path.join(folder, scheme)
        runs = [name for name in files.listdir(scheme_dir)
                if (RUN.fullmatch(name) or STAGING.fullmatch(name) or ASIDE.fullmatch(name))
                and os.path.isdir(os.path.join(scheme_dir, name))]
        for name in runs:
            shutil.rmtree(os.path.join(scheme_dir, name), ignore_errors=True)
        if runs:
            files.remove_empty_folder(scheme_dir)
