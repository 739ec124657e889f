"""Time of one full check of a lab (submit + fresh-process verify), as a student's grade cell runs it.

    python benchmarks/check_full_time.py [lab00_setup]
"""

from __future__ import annotations

import sys
import tempfile
import time

from greenkit import zoo
from greenkit.targets import check, load_spec


def main(lab: str = "lab00_setup") -> None:
    spec = load_spec(lab)
    model = zoo.load(spec.baseline)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        report = check(model, lab=lab, root=tmp)
        print(report)
        print(f"full check of {lab}: {time.perf_counter() - t0:.1f} s wall (checker itself {report.duration_s:.1f} s)")


if __name__ == "__main__":
    main(*sys.argv[1:])
