"""Measuring joules, honestly.

Modules:

- ``base``      backend interface, readings, errors, the backend registry
- ``rapl``      RAPL counters from Linux powercap sysfs (Intel, AMD Zen), all sockets
- ``pyrapl_backend``  pyRAPL as a second RAPL path, wrap-corrected by us
- ``nvml``      NVIDIA GPUs: energy counter, or power sampling on older GPUs
- ``estimate``  CPU time x watts per core where no counter exists (always "estimated")
- ``meter``     ``measure()``, idle baseline, power trace
- ``protocol``  ``measure_inference()``, ``compare()``, ``median_ci95()``
- ``doctor``    ``greenkit doctor`` and its Python twin ``diagnose()``

In IPython, ``%load_ext greenkit.energy`` adds the ``%%measure`` cell magic.
"""

from greenkit.energy import estimate, nvml, pyrapl_backend, rapl  # noqa: F401 - registers backends
from greenkit.energy.base import (
    BACKENDS,
    Availability,
    Backend,
    CounterStalled,
    CounterUnavailable,
    EnergyError,
    PermissionDenied,
    Reading,
    get_backend,
    register,
)
from greenkit.energy.meter import EnergyReport, IdleBaseline, Measurement, measure, measure_idle, start, stop
from greenkit.energy.protocol import Comparison, InferenceEnergy, compare, measure_inference, median_ci95

__all__ = [
    "Availability",
    "BACKENDS",
    "Backend",
    "Comparison",
    "CounterStalled",
    "CounterUnavailable",
    "EnergyError",
    "EnergyReport",
    "IdleBaseline",
    "InferenceEnergy",
    "Measurement",
    "PermissionDenied",
    "Reading",
    "compare",
    "get_backend",
    "load_ipython_extension",
    "measure",
    "measure_idle",
    "measure_inference",
    "median_ci95",
    "register",
    "start",
    "stop",
]


def load_ipython_extension(ipython) -> None:
    """``%load_ext greenkit.energy``: adds ``%%measure [--backend B] [--trace S] [--idle]``.

    The report is printed and stored in the notebook variable ``_energy``. A cell that
    raises still gets its report (the measurement is closed either way).
    """
    import argparse
    import shlex

    parser = argparse.ArgumentParser(prog="%%measure", add_help=False)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--trace", type=float, default=None, help="trace interval in seconds")
    parser.add_argument("--idle", action="store_true", help="subtract the idle baseline")

    def measure_magic(line: str, cell: str):
        args = parser.parse_args(shlex.split(line))
        m = measure(args.backend, trace_interval_s=args.trace, idle_baseline=args.idle)
        report = m.__enter__()
        ipython.user_ns["_energy"] = report
        try:
            ipython.run_cell(cell)
        finally:
            m.__exit__(None, None, None)
        print(repr(report))

    ipython.register_magic_function(measure_magic, "cell", "measure")
