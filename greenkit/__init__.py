"""GreenKit: measure, profile and check the energy of machine-learning code.

Modules (imported on first use, so ``import greenkit`` stays fast):

- ``greenkit.energy``   real energy counters (RAPL, pyRAPL, NVML) or a labelled estimate
- ``greenkit.carbon``   energy -> grams CO2e with dated, cited grid intensities
- ``greenkit.metrics``  accuracy, parameters, size, MACs, sparsity, SynOps, latency
- ``greenkit.targets``  each lab's efficiency targets and the report card
- ``greenkit.data``     offline Fashion-MNIST, verified and cached
- ``greenkit.zoo``      the labs' baseline models and shipped checkpoints
- ``greenkit.plots``    plotly figures used by the labs
- ``greenkit.course``   instructor tooling (nbgrader generation, round trips)
- ``greenkit.i18n``     translations: ``_()`` for messages, the labs' catalogues (zh_CN)

Verbs re-exported here: ``measure``, ``measure_inference``, ``compare``,
``profile``, ``check``, ``submit``.
"""

import importlib
import logging
import os
import sys

__version__ = "0.1.0"

# PyTorch's OpenMP threads busy-wait ("spin") between parallel regions by default. Spinning burns
# CPU time that grows with whatever else runs on the machine, so measured and estimated energy
# wander with the load (here: a small CNN's energy ratio to the baseline read 0.3 on an idle
# 2-core VM and 0.8 under load), and small kernels ran ~6x slower on a busy laptop. OpenMP reads
# the policy once, when torch loads, so it is set only if torch is not loaded yet: the labs import
# greenkit first. A value the user set is kept; `greenkit doctor` reports the policy in force.
OMP_WAIT_POLICY_SET_BY_GREENKIT = "torch" not in sys.modules and "OMP_WAIT_POLICY" not in os.environ
if OMP_WAIT_POLICY_SET_BY_GREENKIT:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

logging.getLogger(__name__).addHandler(logging.NullHandler())

_MODULES = {"energy", "carbon", "metrics", "targets", "data", "zoo", "plots", "course", "paths", "i18n"}
_VERBS = {
    "measure": "greenkit.energy",
    "measure_inference": "greenkit.energy",
    "compare": "greenkit.energy",
    "profile": "greenkit.metrics",
    "check": "greenkit.targets",
    "submit": "greenkit.targets",
}

__all__ = sorted(_MODULES | set(_VERBS))


def __getattr__(name: str):
    if name in _MODULES:
        return importlib.import_module(f"greenkit.{name}")
    if name in _VERBS:
        return getattr(importlib.import_module(_VERBS[name]), name)
    raise AttributeError(f"module 'greenkit' has no attribute {name!r}")


def __dir__():
    return __all__
