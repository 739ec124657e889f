"""``greenkit doctor``: which energy sources this machine has, why not the others, how to enable them.

Python twin: :func:`diagnose` returns the same facts as a dict (``--json`` prints it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path

import greenkit
from greenkit.energy.base import BACKENDS, Backend, get_backend
from greenkit.energy.rapl import DEFAULT_ROOT, RaplBackend, discover_zones
from greenkit.energy.selection import (
    CPU_MEASURED_PREFERENCE,
    GPU_PREFERENCE,
    MIN_UPDATES_PER_WINDOW,
    auto_select,
)
from greenkit.i18n import _
from greenkit.toolchain import cpp_compiler

__all__ = ["add_arguments", "diagnose", "run"]


def _environment() -> dict:
    """Where we run: OS, CPU, and hints of a VM or container (why counters may be missing)."""
    hints = []
    if Path("/.dockerenv").exists() or Path("/run/.containerenv").exists():
        hints.append("container")
    try:
        if " hypervisor" in Path("/proc/cpuinfo").read_text():
            hints.append("virtual machine (cpuinfo 'hypervisor' flag)")
    except OSError:
        pass
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor()
    return {"os": platform.system(), "kernel": platform.release(), "python": sys.version.split()[0],
            "cpu": model, "logical_cpus": os.cpu_count(), "euid": os.geteuid() if hasattr(os, "geteuid") else None,
            "virtualisation": hints, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY") or None,
            "omp_wait_policy_set_by_greenkit": greenkit.OMP_WAIT_POLICY_SET_BY_GREENKIT,
            "cpp_compiler": asdict(cpp_compiler())}


def _probe_rapl(b: RaplBackend, budget_s: float = 0.2) -> dict:
    """Time how often package-0's counter changes and its smallest step (the energy unit)."""
    zones, _notes = discover_zones(b.root)
    pkg = next((z for z in zones if z.in_total and z.name.startswith("package")), None)
    if pkg is None:
        return {}
    changes, steps = [], []
    last = int(pkg.energy_file.read_text())
    t_end = time.perf_counter() + budget_s
    while time.perf_counter() < t_end:
        v = int(pkg.energy_file.read_text())
        if v != last:
            changes.append(time.perf_counter())
            if v > last:
                steps.append(v - last)
            last = v
    gaps = sorted(b2 - a for a, b2 in zip(changes, changes[1:], strict=False))
    return {"zone": pkg.zone, "update_period_s": gaps[len(gaps) // 2] if gaps else None,
            "smallest_step_j": min(steps) / 1e6 if steps else None}


def diagnose(powercap_root: str | os.PathLike | None = None, probe: bool = False) -> dict:
    """Every energy source: available or not, why, how to enable it; and what the labs will use.

    ``powercap_root`` points the RAPL reader elsewhere (tests, or a mounted sysfs);
    ``probe=True`` also times counter update periods (about 1-2 s).
    """
    overrides: dict[str, Backend] = {}
    if powercap_root is not None:
        overrides["rapl"] = RaplBackend(Path(powercap_root))
    sources = []
    order = [*CPU_MEASURED_PREFERENCE, *GPU_PREFERENCE, "estimate"]
    for name in sorted(BACKENDS, key=lambda n: (order.index(n) if n in order else len(order), n)):
        b = overrides.get(name) or get_backend(name)
        av = b.availability()
        d = av.as_dict()
        d["device"] = b.device
        d["update_period_s"] = b.update_period_s
        d["min_window_s"] = MIN_UPDATES_PER_WINDOW * b.update_period_s if b.kind == "measured" else None
        if probe and av.available:
            if isinstance(b, RaplBackend):
                d["probe"] = _probe_rapl(b)
            elif name == "nvml":
                d["probe"] = {"update_period_s": b.probe_update_period()}
            elif name == "pyrapl":
                from greenkit.energy.pyrapl_backend import cross_check

                d["probe"] = {"cross_check_with_direct_reader": cross_check(root=Path(powercap_root or DEFAULT_ROOT))}
        sources.append(d)
    sel = auto_select(overrides)
    return {
        "environment": _environment(),
        "sources": sources,
        "labs_will_use": {"backend": sel.name, "kind": sel.kind,
                          "source": sel.source,
                          "min_window_s": sel.min_window_s(), "notes": sel.notes},
    }


def _kind(kind: str) -> str:
    """measured / estimated / counted in the user's language."""
    return {"measured": _("measured"), "estimated": _("estimated"), "counted": _("counted")}.get(kind, kind)


def _omp_line(env: dict) -> str:
    policy = env["omp_wait_policy"] or ""
    if policy.upper() != "PASSIVE":
        return _("{policy}: idle PyTorch threads spin, so energy readings grow with the machine's load; "
                 "set OMP_WAIT_POLICY=PASSIVE before starting Python (`make lab` does)").format(
                     policy=policy or "default")
    if env["omp_wait_policy_set_by_greenkit"]:
        return _("PASSIVE, set by `import greenkit` (it must come before `import torch`, as in the labs; "
                 "`make lab` sets it for every kernel)")
    return _("PASSIVE, from the environment (idle PyTorch threads sleep)")


def _compiler_line(check: dict) -> str:
    """torch.compile builds CPU kernels with a C++ compiler (lab 3 compiles its INT8 model)."""
    if check["available"]:
        return _("torch.compile: C++ compiler {compiler}").format(compiler=check["compiler"])
    return _("torch.compile: no C++ compiler ({reason}); lab 3 then runs its INT8 model eagerly, "
             "which still earns the points. To compile: {fix}").format(reason=check["reason"], fix=check["fix"])


def _text(d: dict) -> str:
    env = d["environment"]
    out = [_("greenkit doctor: energy sources on this machine"), "",
           "  " + _("{os} {kernel}, {cpu}, {n} logical CPUs").format(
               os=env["os"], kernel=env["kernel"], cpu=env["cpu"] or _("unknown CPU"), n=env["logical_cpus"])
           + (_("; looks like: {hints}").format(hints=", ".join(env["virtualisation"]))
              if env["virtualisation"] else ""),
           "  " + _("OpenMP waiting: {policy}").format(policy=_omp_line(env)),
           "  " + _compiler_line(env["cpp_compiler"]),
           ""]
    for s in d["sources"]:
        mark = "yes" if s["available"] else "no "
        out.append(f"  [{mark}] {s['name']:<9} {s['device']}, {_kind(s['kind'])}")
        out.append(f"        {s['reason']}")
        if s["available"] and s["kind"] == "measured":
            out.append("        " + _("counter update period ~{period_ms:.0f} ms -> windows of at least "
                                      "{window_s:.3g} s").format(period_ms=s["update_period_s"] * 1e3,
                                                                 window_s=s["min_window_s"]))
        for k, v in (s.get("probe") or {}).items():
            out.append("        " + _("probed {what}: {value}").format(what=k, value=v))
        if s["name"] == "estimate":
            det = s["details"]
            out.append("        " + _("CPU: {cpu}; {threads} hardware threads").format(
                cpu=det.get("cpu") or _("unknown"), threads=det.get("threads")))
            match = det.get("tdp_match")
            if match:
                found = (_("{name}, TDP {tdp_w:g} W ({how})").format(name=match["name"], tdp_w=match["tdp_w"],
                                                                    how=match["how"]) if match["tdp_w"]
                         else _("not found ({how})").format(how=match["how"]))
                out.append("        " + _("TDP table: {found}").format(found=found))
            out.append("        " + _("rule: {rule}").format(rule=det.get("rule")))
            out.append("        " + _("how far off: {accuracy}").format(accuracy=_(det.get("accuracy") or "")))
        for n in s["details"].get("notes", []):
            out.append("        " + _("note: {note}").format(note=n))
        if not s["available"] and s["fix"]:
            out.append("        " + _("to enable:"))
            out.extend(f"          - {f}" for f in s["fix"])
        if not s["available"] and s["more"]:
            out.append("        " + _("more: {url}").format(url=s["more"]))
        out.append("")
    use = d["labs_will_use"]
    if use["kind"] == "estimated":
        out.append("  " + _("No energy counter is readable here: the labs will use ESTIMATES, labelled as such."))
    out.append("  " + _("Labs will use: {backend} ({kind}): {source}").format(
        backend=use["backend"], kind=_kind(use["kind"]), source=use["source"]))
    out.extend(f"    - {n}" for n in use["notes"])
    return "\n".join(out)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``greenkit doctor``."""
    parser.add_argument("--json", action="store_true", help="print the diagnosis as JSON (for machines)")
    parser.add_argument("--probe", action="store_true",
                        help="also time counter update periods and cross-check pyRAPL (~1-2 s)")
    parser.add_argument("--powercap-root", default=None, metavar="DIR",
                        help=f"read RAPL zones from DIR instead of {DEFAULT_ROOT}")


def run(args: argparse.Namespace) -> int:
    """Print the diagnosis; exit status 0 (an estimate-only machine is a valid setup, not an error)."""
    d = diagnose(getattr(args, "powercap_root", None), probe=getattr(args, "probe", False))
    if getattr(args, "json", False):
        print(json.dumps(d, indent=2, default=str))
    else:
        print(_text(d))
    return 0


if __name__ == "__main__":  # python -m greenkit.energy.doctor
    p = argparse.ArgumentParser(prog="greenkit doctor", description=__doc__.splitlines()[0])
    add_arguments(p)
    raise SystemExit(run(p.parse_args()))
