"""A task for the Dask tests that fails in one scheme's run: imported by the workers too."""

from keras_initcmp.driver.tasks import ProbeTask


class FailsForHe(ProbeTask):
    """A tiny probe whose `he` run raises, in whichever process runs it."""

    def __call__(self, scheme, seed, run_dir, line):
        if scheme == "he":
            raise RuntimeError(f"he seed {seed} failed on purpose")
        return super().__call__(scheme, seed, run_dir, line)
