"""Measuring joules, honestly.

Modules:

- ``base``        backend interface, readings, errors, the backend registry
- ``rapl``        RAPL counters from Linux powercap sysfs (Intel, AMD Zen), all sockets
- ``pyrapl_backend``  pyRAPL as a second RAPL path, wrap-corrected by us
- ``apple``       Apple Silicon SoCs (CPU, GPU, Neural Engine, DRAM) via zeus-apple-silicon
- ``nvml``        NVIDIA GPUs: energy counter, or power sampling on older GPUs
- ``amd``         AMD GPUs: AMD SMI's energy counter, sanity-checked against power
- ``estimate``    CPU time x TDP share where no counter exists (always "estimated")
- ``selection``   which backends ``"auto"`` uses, and why (``resolve_backends``, ``auto_select``)
- ``sampler``     ``SessionGroup``: open, poll and close counter sessions
- ``provenance``  ``Provenance``: kind/backend/source/threads/device/notes of every result
- ``meter``       ``measure()``, idle baseline, power trace
- ``protocol``    ``measure_inference()``, ``compare()``, ``median_ci95()``
- ``doctor``      ``greenkit doctor`` and its Python twin ``diagnose()``

In IPython, ``%load_ext greenkit.energy`` adds the ``%%measure`` cell magic.
"""

from greenkit.energy import amd, apple, estimate, nvml, pyrapl_backend, rapl  # noqa: F401 - registers backends
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
from greenkit.energy.provenance import Provenance

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
    "Provenance",
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
    raises still gets its report (the measurement is closed either way). ``%%measure?``
    shows the options (IPython's ``magic_arguments``).
    """
    from IPython.core import magic_arguments

    @magic_arguments.magic_arguments()
    @magic_arguments.argument("--backend", default="auto",
                              help="energy backend: auto, rapl, pyrapl, apple, nvml, amdsmi, estimate, or A+B")
    @magic_arguments.argument("--trace", type=float, default=None, metavar="S",
                              help="record a power trace every S seconds")
    @magic_arguments.argument("--idle", action="store_true", help="subtract the idle baseline")
    def measure_magic(line: str, cell: str):
        """Measure the energy of this cell; the report goes to ``_energy`` and is printed."""
        args = magic_arguments.parse_argstring(measure_magic, line)
        m = measure(args.backend, trace_interval_s=args.trace, idle_baseline=args.idle)
        report = m.__enter__()
        ipython.user_ns["_energy"] = report
        try:
            ipython.run_cell(cell)
        finally:
            m.__exit__(None, None, None)
        print(repr(report))

    ipython.register_magic_function(measure_magic, "cell", "measure")
