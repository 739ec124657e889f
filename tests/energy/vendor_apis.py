"""Faithful stand-ins for vendor libraries that cannot be imported on this Linux CI machine.

They exist only to be autospec'd (``mock.create_autospec``): signatures, names and types
copied from the libraries' published sources, so a call our backend makes that the real
API does not have fails the test. Where the real library imports (a Mac with
zeus-apple-silicon, a ROCm machine with amdsmi), :func:`zeus_apple_silicon` and
:func:`amdsmi` return the real module instead and the same tests run against it.

- zeus-apple-silicon 1.1.0 (PyPI sdist): ``bindings/energy_bindings.hpp`` (nanobind) and
  ``apple_energy/apple_energy.hpp``. It is a macOS-only C++ extension: it cannot be built
  or imported on Linux.
- amdsmi 7.0.2 (PyPI wheel): ``amdsmi_interface.py`` and ``amdsmi_exception.py``. Its
  import loads ROCm's ``libamd_smi.so`` (``KeyError: 'libamd_smi.so'`` without ROCm).
"""

from __future__ import annotations

import types
from enum import IntEnum


# ---------------------------------------------------------------- zeus_apple_silicon 1.1.0
class AppleEnergyMetrics:
    """``nb::class_<AppleEnergyMetrics>``: every field optional (None where the chip lacks it), in mJ."""

    cpu_total_mj: int | None = None
    efficiency_cores_mj: list[int] | None = None
    performance_cores_mj: list[int] | None = None
    efficiency_cluster_mj: list[int] | None = None
    performance_cluster_mj: list[int] | None = None
    efficiency_core_manager_mj: int | None = None
    performance_core_manager_mj: int | None = None
    dram_mj: int | None = None
    gpu_mj: int | None = None
    gpu_sram_mj: int | None = None
    ane_mj: int | None = None

    def __init__(self) -> None: ...


class AppleEnergyMonitor:
    """``nb::class_<AppleEnergyMonitor>``; C++ ``std::runtime_error`` surfaces as ``RuntimeError``."""

    def __init__(self) -> None: ...

    def get_cumulative_energy(self) -> AppleEnergyMetrics: ...

    def begin_window(self, key: str, restart: bool = False) -> None: ...

    def end_window(self, key: str) -> AppleEnergyMetrics: ...


def zeus_apple_silicon():
    """The real ``zeus_apple_silicon`` module where it imports, else this stand-in."""
    try:
        import zeus_apple_silicon as real  # macOS arm64 only
    except ImportError:
        return types.SimpleNamespace(AppleEnergyMonitor=AppleEnergyMonitor, AppleEnergyMetrics=AppleEnergyMetrics,
                                     is_stub=True)
    real.is_stub = False
    return real


# ---------------------------------------------------------------------------- amdsmi 7.0.2
class AmdSmiInitFlags(IntEnum):
    INIT_ALL_PROCESSORS = 4294967295
    INIT_AMD_CPUS = 1
    INIT_AMD_GPUS = 2
    INIT_NON_AMD_CPUS = 4
    INIT_NON_AMD_GPUS = 8
    INIT_AMD_APUS = 3


class AmdSmiException(Exception):
    """Base smi exception class"""


class AmdSmiLibraryException(AmdSmiException):
    def __init__(self, err_code):
        err_code = abs(err_code)
        super().__init__(err_code)
        self.err_code = err_code

    def get_error_code(self):
        return self.err_code


class _AmdSmiApi:
    """The functions of ``amdsmi_interface`` our backend calls, with their published signatures."""

    AmdSmiInitFlags = AmdSmiInitFlags
    AmdSmiException = AmdSmiException
    AmdSmiLibraryException = AmdSmiLibraryException

    @staticmethod
    def amdsmi_init(flag=AmdSmiInitFlags.INIT_AMD_GPUS): ...

    @staticmethod
    def amdsmi_shut_down(): ...

    @staticmethod
    def amdsmi_get_processor_handles() -> list: ...

    @staticmethod
    def amdsmi_get_gpu_asic_info(processor_handle) -> dict: ...

    @staticmethod
    def amdsmi_get_power_info(processor_handle) -> dict: ...

    @staticmethod
    def amdsmi_get_energy_count(processor_handle): ...


def amdsmi():
    """The real ``amdsmi`` module where it imports (ROCm installed), else this stand-in."""
    try:
        import amdsmi as real
    except (ImportError, OSError, KeyError, AttributeError):
        return _AmdSmiApi
    return real
