"""nbgrader configuration for the GreenKit course.

Instructor source notebooks live in solutions/<lab>/, the generated student
versions in labs/<lab>/ (committed). Student submissions, autograded copies,
feedback and the gradebook database stay outside git (see .gitignore).
"""

import os

# Kernels started by nbgrader inherit this: PyTorch's idle OpenMP threads sleep instead of spinning,
# so energy measured while autograding a class does not drift with the grading machine's load.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from nbconvert.preprocessors import ClearMetadataPreprocessor  # noqa: E402
from nbgrader.preprocessors import (  # noqa: E402
    AssignLatePenalties,
    CheckCellMetadata,
    Execute,
    IgnorePattern,
    LimitOutput,
    SaveAutoGrades,
)

from greenkit.course.preprocessors import ClearGreenkitSubmissions, VerifyGreenkitTargets  # noqa: E402

c = get_config()  # noqa: F821  (provided by nbgrader)

c.CourseDirectory.course_id = "greenkit"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "labs"
# The gradebook is a local SQLite file, git-ignored; point it elsewhere on a shared hub.
c.CourseDirectory.db_url = "sqlite:///gradebook.db"
# Only notebooks and the files a lab needs are released; never caches or submissions.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback",
                            "greenkit-submissions", ".greenkit"]

# Each lab runs in <= 150 s on a 2-core laptop; one cell may take at most 10 min
# (a slow machine or a student's slow code), then the grader moves on.
c.ExecutePreprocessor.timeout = 600
c.Execute.timeout = 600
c.Execute.interrupt_on_timeout = True

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# A student's code can patch anything inside its own kernel, so the report-card
# cells' verdict is re-computed in a fresh process from the saved artefacts.
# Order matters: clear stale artefacts BEFORE executing; verify RIGHT AFTER
# executing, before outputs are limited and grades are saved.
c.Autograde.autograde_preprocessors = [
    ClearGreenkitSubmissions,
    Execute,
    VerifyGreenkitTargets,
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    SaveAutoGrades,
    AssignLatePenalties,
    CheckCellMetadata,
]
c.VerifyGreenkitTargets.timeout = 600

# `greenkit grade LAB` (sandboxed, parallel class grading; README: "Grading a class").
# Limits per submission; a limit hit zeroes the cells not reached, with the reason in the feedback.
c.GreenkitGrade.wall_s = 600                 # seconds for the WHOLE notebook (labs run in <= 150 s)
c.GreenkitGrade.memory_bytes = 4 * 2**30     # the kernel's memory (RLIMIT_DATA): MemoryError past it
c.GreenkitGrade.processes = 256              # processes + threads in the sandbox (RLIMIT_NPROC)
c.GreenkitGrade.disk_bytes = 2 * 2**30       # bytes the notebook may write into its folder
c.GreenkitGrade.verify_wall_s = 600          # one fresh-process report-card verification
# Tampering evidence (monkeypatched tests, IPython hooks, exec of built strings, code-carrying
# artefacts...): "flag" lists it in the class report for review; "zero" also zeroes the grade
# cells after the evidence.
c.GreenkitGrade.on_tamper = "flag"
c.GreenkitGrade.require_sandbox = False      # True: refuse to grade where bubblewrap cannot run
