"""Submit, verify and check: the verdict always comes from a process the student's code never ran in.

    notebook kernel                          fresh process (python -m greenkit verify)
    ---------------                          -----------------------------------------
    gk.check(model, lab=...)
      submit(): save the model as files  --> load the files safely (artefacts.py)
      run the fresh process, wait            load the baseline, data; measure everything
      show the Report it wrote          <--  write the Report as JSON

In a notebook :func:`check` is feedback; the binding verdict for grades comes from
:class:`greenkit.course.preprocessors.VerifyGreenkitTargets` (nbgrader) or ``greenkit check NOTEBOOK``,
which run :func:`verify_fresh` themselves on the files the notebook left behind.
"""

from __future__ import annotations

import ast
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from greenkit.targets.artefacts import ArtefactError, load_model, save_model
from greenkit.targets.kinds import Context, finite_float
from greenkit.targets.registry import load_quantities
from greenkit.targets.report import Report, TargetResult
from greenkit.targets.spec import Spec, load_spec

__all__ = ["submit", "check", "verify", "verify_fresh", "evaluate", "submission_dir", "find_check_calls",
           "CheckCall", "check_notebook", "SUBMISSIONS_DIR"]

SUBMISSIONS_DIR = "greenkit-submissions"
_NAME_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


def submission_dir(lab: str, root: str | Path | None = None) -> Path:
    """``<root or cwd>/greenkit-submissions/<lab>`` (``lab`` may be a spec path: its stem is used)."""
    name = Path(lab).stem if str(lab).endswith(".toml") else lab
    return Path(root or Path.cwd()) / SUBMISSIONS_DIR / _check_name(name, "lab")


def _check_name(name: str, what: str) -> str:
    if type(name) is not str or not name or not set(name) <= _NAME_OK:
        raise ValueError(f"{what} {name!r}: use letters, digits, '_' and '-'")
    return name


def submit(lab: str, model: nn.Module | None = None, *, root: str | Path | None = None,
           **artefacts: nn.Module) -> Path:
    """Save the submitted models of ``lab`` as files the checker can load safely.

    ``submit("lab02_pruning", pruned)`` saves artefact ``"model"``; other artefacts by name
    (``submit(lab, student=s, teacher=t)``). Returns the submission folder.
    """
    spec = load_spec(lab)
    if model is not None:
        artefacts = {"model": model, **artefacts}
    if not artefacts:
        raise ValueError("nothing to submit: pass the model (submit(lab, model)) or named artefacts")
    folder = submission_dir(spec.lab, root)
    example = _example_input(spec)
    for name, m in artefacts.items():
        _check_name(name, "artefact name")
        meta = save_model(m, folder / name, example)
        arch = spec.artefacts[name].arch if name in spec.artefacts else None
        if arch and meta.get("arch") != arch:
            raise ArtefactError(f"{spec.lab} expects artefact {name!r} to be a plain gk.zoo.{arch} (saved as its "
                                f"weights); this {type(m).__name__} is not one whose forward is {arch}'s, so it "
                                f"cannot be checked. Submit the {arch} itself.")
    (folder / "submission.json").write_text(json.dumps({"lab": spec.lab, "artefacts": sorted(artefacts),
                                                        "saved_at": time.time()}))
    return folder


def _example_input(spec: Spec) -> torch.Tensor:
    from greenkit import data
    x, _ = data.load("train", n_per_class=1)
    return x[:4]  # (4, 1, 28, 28): a batch of training images, never test images


def _machine() -> dict:
    return {"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "platform": platform.platform(), "processor": platform.processor() or platform.machine()}


def evaluate(spec: Spec, models: dict[str, nn.Module], *, compare: Callable | None = None,
             baseline: nn.Module | None = None, verified_by: str = "in-process") -> Report:
    """Evaluate ``spec``'s targets on already loaded ``models`` (``{artefact name: model}``).

    ``compare`` replaces :func:`greenkit.energy.compare` (tests inject a fake); ``baseline``
    replaces ``zoo.load(spec.baseline)``.
    """
    t0 = time.perf_counter()
    ctx = Context(spec, models, compare=compare, baseline=baseline)
    quantities = load_quantities()
    outcomes: dict[str, TargetResult] = {}

    def outcome(t) -> TargetResult:
        """The target measured and compared with its threshold (once per id; gates reuse it)."""
        if t.id in outcomes:
            return outcomes[t.id]
        base = TargetResult.base(t)
        q = quantities.get(t.quantity)
        if q is None:
            r = TargetResult(**base, status="error", reason=f"unknown target kind {t.kind!r} "
                             f"(quantities: {sorted(quantities)})")
        else:
            try:
                m = q(ctx, t)
                value = finite_float(m.value)
            except Exception as err:  # the grader must fail closed on ANY failure, with the reason shown
                r = TargetResult(**base, status="error", reason=f"{type(err).__name__}: {err}"[:500])
            else:
                r = TargetResult(**base, status="pass" if t.holds(value) else "fail", value=value,
                                 interval=m.interval, method=m.method, how=m.how)
        outcomes[t.id] = r
        return r

    def is_quality(name: str) -> bool:
        return name in quantities and quantities[name].quality

    results = []
    for t in spec.targets:
        r = outcome(t)
        if r.passed:
            # efficiency counts only for a model that is also good enough: a sparse or cheap model
            # that fails the artefact's accuracy target earns nothing for being sparse or cheap
            failed = [g for g in spec.gates(t, is_quality) if not outcome(g).passed]
            if failed:
                g, gr = failed[0], outcome(failed[0])
                why = (f"{gr.value_text()} does not meet {gr.threshold_text()}" if gr.status == "fail"
                       else f"could not be evaluated ({gr.reason})")
                r = replace(r, status="fail", reason=f"gated on target {g.id!r} ({g.quantity} of {g.artefact}), "
                            f"which {why}: efficiency counts only for a model that meets it")
        results.append(r)
    notes = []
    if any(r.method == "estimated" for r in results):
        notes.append("Estimated values come from a model, not from this machine's energy counters.")
    return Report(lab=spec.lab, title=spec.title, results=results, verified_by=verified_by,
                  machine=_machine(), duration_s=time.perf_counter() - t0, notes=notes)


def verify(folder: str | Path, lab: str | None = None, *, targets: list[str] | None = None,
           compare: Callable | None = None, verified_by: str = "in-process") -> Report:
    """Load the artefacts in ``folder`` (a submission folder) and evaluate the lab's targets.

    Never raises for a bad submission: returns a Report with ``error`` set (0 points).
    """
    folder = Path(folder)
    lab = lab or folder.name
    try:
        spec = load_spec(lab).select(targets)
    except (FileNotFoundError, ValueError, KeyError) as err:
        return Report.failed(str(lab), str(lab), f"spec: {err}", verified_by=verified_by)
    # every artefact a target measures, plus any its options name (accuracy_gain's `over`)
    needed = sorted({a for t in spec.targets for a in t.artefacts} - {"baseline"})
    models = {}
    for name in needed:
        arch = spec.artefacts[name].arch if name in spec.artefacts else None
        try:
            models[name], _ = load_model(folder / name, arch=arch)
        except ArtefactError as err:
            return Report.failed(spec.lab, spec.title, f"artefact {name!r}: {err}", spec, verified_by)
        except Exception as err:  # a loader bug must still give a verdict (0 points), not a traceback
            return Report.failed(spec.lab, spec.title, f"artefact {name!r} could not be loaded "
                                 f"({type(err).__name__}: {str(err)[:300]})", spec, verified_by)
    return evaluate(spec, models, compare=compare, verified_by=verified_by)


def verify_fresh(folder: str | Path, lab: str, *, targets: list[str] | None = None, timeout_s: float = 600,
                 python: str | None = None, cwd: str | Path | None = None) -> Report:
    """Run ``python -m greenkit verify`` in a new process and return its Report.

    Fails closed: a crash, a timeout or unreadable output gives a Report with ``error`` set.
    """
    folder = Path(folder).resolve()
    with tempfile.TemporaryDirectory(prefix="greenkit-verify-") as tmp:
        out = Path(tmp) / "report.json"
        cmd = [python or sys.executable, "-m", "greenkit", "verify", str(folder), "--lab", lab, "--json", str(out)]
        for t in targets or ():
            cmd += ["--target", t]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}  # no injected startup code
        env["PYTHONNOUSERSITE"] = "1"
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see greenkit/__init__.py: spinning threads skew energy
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env,
                                  cwd=str(cwd or tmp))
        except subprocess.TimeoutExpired:
            return Report.failed(lab, lab, f"the checker ran past {timeout_s:.0f} s and was stopped")
        if not out.is_file():
            tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-5:]
            return Report.failed(lab, lab, f"the checker exited with status {proc.returncode} without a "
                                 f"report: {' | '.join(tail)}")
        try:
            return Report.from_json(out.read_text())
        except (ValueError, TypeError, KeyError) as err:
            return Report.failed(lab, lab, f"unreadable checker output: {err}")


def check(submission: nn.Module | dict[str, nn.Module], lab: str, *, targets: list[str] | None = None,
          root: str | Path | None = None, timeout_s: float = 600) -> Report:
    """Save ``submission`` for ``lab`` and check it in a fresh process; returns the Report.

    ``submission``: the model (artefact ``"model"``) or ``{artefact name: model}``.
    ``targets``: target ids to check (default: all of the lab's).
    In a notebook the Report shows as a table; ``report.points(max_points)`` is partial credit.
    """
    if isinstance(submission, dict):
        folder = submit(lab, root=root, **submission)
    else:
        folder = submit(lab, submission, root=root)
    return verify_fresh(folder, lab, targets=targets, timeout_s=timeout_s)


# ---- grade cells: which cells call check(..., lab="...") ---------------------------------

@dataclass(frozen=True)
class CheckCall:
    """A ``check(..., lab="x", targets=[...])`` call found in a notebook cell's source."""
    cell_index: int
    lab: str
    targets: tuple[str, ...] | None
    max_points: float | None


def _literal_strings(node) -> tuple[str, ...] | None:
    try:
        value = ast.literal_eval(node)
    except ValueError:
        return None
    if isinstance(value, (list, tuple)) and all(type(v) is str for v in value):
        return tuple(value)
    return None


def find_check_calls(nb) -> list[CheckCall]:
    """Cells whose source calls ``...check(…, lab="<literal>")`` (first such call per cell).

    Used on the instructor's locked grade cells (nbgrader restores their source before
    grading), so a student cannot hide a check by editing the cell.
    """
    from nbgrader.utils import is_grade

    calls = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or "check" not in cell.source:
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            fname = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if fname != "check":
                continue
            kw = {k.arg: k.value for k in node.keywords if k.arg}
            if "lab" not in kw or not isinstance(kw["lab"], ast.Constant) or type(kw["lab"].value) is not str:
                continue
            points = float(cell.metadata.nbgrader["points"]) if is_grade(cell) else None
            calls.append(CheckCall(i, kw["lab"].value, _literal_strings(kw["targets"]) if "targets" in kw
                                   else None, points))
            break
    return calls


def check_notebook(path: str | Path, *, timeout_s: float = 600, kernel_name: str = "python3"
                   ) -> list[tuple[CheckCall, Report]]:
    """Execute a lab notebook (a copy, in its own folder) and verify each ``check(...)`` in a fresh process.

    The Python twin of ``greenkit check NOTEBOOK``. Old submissions are removed first, so
    only what this run saves is checked. A failing cell does not stop the run.
    """
    import nbformat
    from nbclient import NotebookClient

    path = Path(path).resolve()
    nb = nbformat.read(path, as_version=4)
    calls = find_check_calls(nb)
    for lab in {c.lab for c in calls}:
        shutil.rmtree(submission_dir(lab, path.parent), ignore_errors=True)
    client = NotebookClient(nb, timeout=int(timeout_s), kernel_name=kernel_name, allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    return [(c, verify_fresh(submission_dir(c.lab, path.parent), c.lab, targets=list(c.targets or []) or None,
                             timeout_s=timeout_s)) for c in calls]
