"""Lab targets: declarative specs, a checker that runs in a fresh process, and the report card.

- :func:`check` - save a submission and verify it in a fresh process -> :class:`Report`
- :func:`submit` - only save (``greenkit-submissions/<lab>/<artefact>/``)
- :func:`verify` - load saved artefacts and evaluate (what ``python -m greenkit verify`` runs)
- :func:`verify_fresh` - :func:`verify` in a new process (what graders call)
- :func:`evaluate` - evaluate a :class:`Spec` on loaded models
- :func:`load_spec` - a lab's spec (``greenkit/targets/specs/<lab>.toml``; format in ``specs/README.md``)
- :func:`check_notebook` - execute a notebook and verify its ``check(...)`` calls (``greenkit check``)
"""

from greenkit.targets.check import (
    SUBMISSIONS_DIR,
    CheckCall,
    check,
    check_notebook,
    evaluate,
    find_check_calls,
    submission_dir,
    submit,
    verify,
    verify_fresh,
)
from greenkit.targets.kinds import QUANTITIES, Context, Measured, quantity
from greenkit.targets.registry import Options
from greenkit.targets.report import Report, TargetResult
from greenkit.targets.spec import (
    ArtefactConfig,
    DataConfig,
    EnergyConfig,
    Op,
    ProfileConfig,
    Spec,
    SpecError,
    TargetSpec,
    load_spec,
    spec_names,
)

__all__ = ["check", "submit", "verify", "verify_fresh", "evaluate", "check_notebook", "find_check_calls",
           "CheckCall", "submission_dir", "SUBMISSIONS_DIR", "Report", "TargetResult", "Spec", "TargetSpec",
           "load_spec", "spec_names", "QUANTITIES", "Measured", "quantity", "Options", "Context", "Op",
           "SpecError", "DataConfig", "ProfileConfig", "EnergyConfig", "ArtefactConfig"]
