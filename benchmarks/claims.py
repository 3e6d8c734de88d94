"""One printed line per speed claim: what a benchmark measured, against which floor, the
ratio and its target; `speed_section.py` collects these lines into README's Speed table."""

import json

PREFIX = "CLAIM "


def report(claim, measured, floor, floor_name, target, unit="s", backend="tensorflow",
           target_unit="x"):
    """Print `claim` (measured vs floor, same unit) readably and as one `CLAIM {json}` line.

    `target` is the most the ratio may be (`target_unit="x"`), or the measured value
    (`target_unit=unit`); `None`: no target (a figure shown beside another)."""
    ratio = measured / floor
    checked = ratio if target_unit == "x" else measured
    verdict = "" if target is None else ("met" if checked <= target else "MISSED")
    print(f"{claim} [{backend}]: {measured:.4g} {unit} vs {floor_name} {floor:.4g} {unit}"
          f" = {ratio:.2f}x" + ("" if target is None else
                                f" (target <= {target} {target_unit}): {verdict}"))
    print(PREFIX + json.dumps({"claim": claim, "backend": backend, "measured": measured,
                               "floor": floor, "floor_name": floor_name, "unit": unit,
                               "ratio": ratio, "target": target, "target_unit": target_unit,
                               "verdict": verdict}), flush=True)


def parse(text):
    """The claims printed in `text` (a benchmark's output), in order."""
    return [json.loads(line[len(PREFIX):]) for line in text.splitlines()
            if line.startswith(PREFIX)]
