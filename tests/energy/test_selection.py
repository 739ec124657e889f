"""selection.py: what "auto" picks, and the double-counting rule, used by meter and doctor alike."""

from __future__ import annotations

import pytest

from greenkit.energy import doctor
from greenkit.energy.base import Availability, Backend, CounterSession, Reading, register
from greenkit.energy.rapl import RaplBackend
from greenkit.energy.selection import auto_select, resolve_backends


class FakeBackend(Backend):
    """A measured backend whose availability the test sets (subclasses the real base class)."""

    kind = "measured"

    def __init__(self, name: str, device: str, covers: tuple[str, ...], ok: bool, **details) -> None:
        super().__init__()
        self.name, self.device, self.covers, self.ok, self.extra = name, device, covers, ok, details

    def _probe(self) -> Availability:
        return Availability(self.name, self.ok, self.kind, "works" if self.ok else f"{self.name} is off", (),
                            "", {"update_period_s": 0.001, **self.extra})

    def open(self) -> CounterSession:
        class S(CounterSession):
            def read(self) -> Reading:
                return Reading(0.0, {"x": 0.0}, ("x",))

        return S()

    def describe(self) -> str:
        return f"fake {self.name}"


@pytest.fixture
def off_machine(registry, tmp_path):
    """No RAPL, no pyRAPL, no Apple, no GPUs: what auto sees on a counter-less laptop."""
    registry("rapl", RaplBackend(tmp_path / "none"))
    registry("pyrapl", FakeBackend("pyrapl", "cpu", ("cpu",), False))
    registry("apple", FakeBackend("apple", "soc", ("cpu", "gpu:apple"), False, not_applicable=True))
    registry("nvml", FakeBackend("nvml", "gpu", ("gpu:nvidia",), False))
    registry("amdsmi", FakeBackend("amdsmi", "gpu", ("gpu:amd",), False))
    return registry


def test_auto_falls_back_to_the_labelled_estimate_with_reasons(off_machine):
    """With no counter, does auto pick the estimate, say why each measured CPU source was skipped, and skip no-news ones?"""
    sel = auto_select()
    assert sel.name == "estimate" and sel.kind == "estimated"
    assert any(n.startswith("rapl:") for n in sel.notes) and any(n.startswith("pyrapl:") for n in sel.notes)
    assert not any(n.startswith("apple:") for n in sel.notes)  # not applicable on this OS
    assert any("ESTIMATED" in n for n in sel.notes)


def test_auto_takes_the_first_measured_cpu_source_and_every_working_gpu(off_machine):
    """Does auto take pyRAPL when RAPL is off, and add both GPU vendors when both work?"""
    off_machine("pyrapl", FakeBackend("pyrapl", "cpu", ("cpu",), True))
    off_machine("nvml", FakeBackend("nvml", "gpu", ("gpu:nvidia",), True))
    off_machine("amdsmi", FakeBackend("amdsmi", "gpu", ("gpu:amd",), True))
    sel = auto_select()
    assert sel.name == "pyrapl+nvml+amdsmi" and sel.kind == "measured"
    assert sel.device == "cpu+gpu:nvidia+gpu:amd"


def test_auto_never_adds_a_gpu_the_soc_already_counts(off_machine):
    """When the Apple SoC backend is chosen, is a GPU backend covering the same GPU left out?"""
    off_machine("apple", FakeBackend("apple", "soc", ("cpu", "gpu:apple"), True))
    off_machine("nvml", FakeBackend("nvml", "gpu", ("gpu:apple",), True))  # hypothetical overlap
    assert auto_select().name == "apple"


def test_doctor_and_meter_agree(off_machine):
    """Do greenkit doctor's 'labs will use' and measure()'s auto choice come from the same selection?"""
    d = doctor.diagnose()
    assert d["labs_will_use"]["backend"] == resolve_backends("auto").name == "estimate"
    assert {"apple", "amdsmi"} <= {s["name"] for s in d["sources"]}


def test_explicit_double_count_is_refused():
    """Is 'estimate+estimate' (the same CPU twice) refused with a message naming the overlap?"""
    with pytest.raises(ValueError, match="cover 'cpu' twice"):
        resolve_backends("estimate+estimate")


def test_register_defaults_covers_to_the_device():
    """Does a backend registered without ``covers`` cover just its device?"""

    @register("test-only-gpu-backend")
    class B(FakeBackend):
        device = "gpu"

    try:
        assert B.covers == ("gpu",)
    finally:
        from greenkit.energy.base import BACKENDS

        del BACKENDS["test-only-gpu-backend"]
