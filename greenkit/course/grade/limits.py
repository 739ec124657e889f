"""Per-submission limits and class-grading settings, configurable in ``nbgrader_config.py``.

    c.GreenkitGrade.wall_s = 600              # the whole notebook, not one cell
    c.GreenkitGrade.memory_bytes = 4 * 2**30  # RLIMIT_DATA of the kernel: MemoryError past it
    c.GreenkitGrade.processes = 256           # processes + threads of the sandbox's uid
    c.GreenkitGrade.disk_bytes = 2 * 2**30    # bytes written into the scratch folder
    c.GreenkitGrade.on_tamper = "flag"        # or "zero": zero the grade cells after the evidence

Defaults are sized for the course's labs (each runs in <= 150 s on a 2-core laptop) with a
4x margin; a limit hit gives that student a message in the feedback and zero for the cells
not reached, and the class run goes on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from traitlets import Bool, CaselessStrEnum, Float, Int, List, Unicode
from traitlets.config import Configurable

__all__ = ["Limits", "GradeSettings", "GreenkitGrade"]

GiB = 2**30


@dataclass(frozen=True)
class Limits:
    """What one submission may use. Units in names; validated on creation."""
    wall_s: float = 600.0                 # the whole notebook (all cells together)
    memory_bytes: int = 4 * GiB           # RLIMIT_DATA of every sandboxed process
    processes: int = 256                  # RLIMIT_NPROC: processes and threads
    disk_bytes: int = 2 * GiB             # total bytes in the scratch folder (watched every 0.5 s)
    file_bytes: int = 1 * GiB             # RLIMIT_FSIZE: the largest single file
    tmp_bytes: int = 256 * 2**20          # size of the sandbox's /tmp (tmpfs)
    output_bytes: int = 2 * 2**20         # notebook outputs kept per cell (the rest is cut)
    verify_wall_s: float = 600.0          # one fresh-process verification of a report card
    extra_readonly: tuple[str, ...] = field(default_factory=tuple)  # more paths the sandbox may read

    def __post_init__(self):
        for name in ("wall_s", "verify_wall_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Limits.{name} must be > 0 seconds, got {getattr(self, name)!r}")
        for name in ("memory_bytes", "processes", "disk_bytes", "file_bytes", "tmp_bytes", "output_bytes"):
            v = getattr(self, name)
            if type(v) is not int or v <= 0:
                raise ValueError(f"Limits.{name} must be a positive int, got {v!r}")
        if self.memory_bytes < 512 * 2**20:
            raise ValueError(f"Limits.memory_bytes={self.memory_bytes}: PyTorch alone needs ~300 MB; "
                             "give a kernel at least 512 MiB")
        if self.processes < 32:
            raise ValueError(f"Limits.processes={self.processes}: a Jupyter kernel with PyTorch runs "
                             "~20 threads; allow at least 32")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["extra_readonly"] = list(self.extra_readonly)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Limits:
        d = dict(d)
        d["extra_readonly"] = tuple(d.get("extra_readonly", ()))
        return cls(**d)


@dataclass(frozen=True)
class GradeSettings:
    """Everything besides limits that changes a grade (hashed into the resume key)."""
    limits: Limits = field(default_factory=Limits)
    on_tamper: str = "flag"               # "flag": list for review; "zero": zero grade cells after the evidence
    require_sandbox: bool = False         # refuse to grade without a sandbox (else: loud warning)
    code_stub: str = "# YOUR CODE HERE\nraise NotImplementedError()"
    text_stub: str = "YOUR ANSWER HERE"
    quiet_verify: bool = True             # energy verification with the node to itself

    def __post_init__(self):
        if self.on_tamper not in ("flag", "zero"):
            raise ValueError(f"on_tamper={self.on_tamper!r}: use 'flag' (list for review) or 'zero' "
                             "(zero the grade cells after the evidence)")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["limits"] = self.limits.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> GradeSettings:
        d = dict(d)
        d["limits"] = Limits.from_dict(d["limits"])
        return cls(**d)


class GreenkitGrade(Configurable):
    """``c.GreenkitGrade.*`` in nbgrader_config.py: the settings of ``greenkit grade``."""
    wall_s = Float(Limits.wall_s, help="seconds the whole notebook may run").tag(config=True)
    memory_bytes = Int(Limits.memory_bytes, help="memory of the kernel (RLIMIT_DATA)").tag(config=True)
    processes = Int(Limits.processes, help="processes + threads in the sandbox").tag(config=True)
    disk_bytes = Int(Limits.disk_bytes, help="bytes the notebook may write").tag(config=True)
    file_bytes = Int(Limits.file_bytes, help="largest file the notebook may write").tag(config=True)
    tmp_bytes = Int(Limits.tmp_bytes, help="size of the sandbox's /tmp").tag(config=True)
    output_bytes = Int(Limits.output_bytes, help="outputs kept per cell").tag(config=True)
    verify_wall_s = Float(Limits.verify_wall_s, help="seconds one report-card verification may take"
                          ).tag(config=True)
    extra_readonly = List(Unicode(), [], help="more paths the sandbox may read").tag(config=True)
    on_tamper = CaselessStrEnum(["flag", "zero"], "flag", help="flag tampering for review, or zero "
                                "the grade cells after the evidence").tag(config=True)
    require_sandbox = Bool(False, help="refuse to grade when no sandbox is available").tag(config=True)
    quiet_verify = Bool(True, help="verify energy targets with the node to itself").tag(config=True)

    def settings(self, code_stub: str | None = None, text_stub: str | None = None) -> GradeSettings:
        limits = Limits(wall_s=float(self.wall_s), memory_bytes=int(self.memory_bytes),
                        processes=int(self.processes), disk_bytes=int(self.disk_bytes),
                        file_bytes=int(self.file_bytes), tmp_bytes=int(self.tmp_bytes),
                        output_bytes=int(self.output_bytes), verify_wall_s=float(self.verify_wall_s),
                        extra_readonly=tuple(self.extra_readonly))
        kw = {}
        if code_stub is not None:
            kw["code_stub"] = code_stub
        if text_stub is not None:
            kw["text_stub"] = text_stub
        return GradeSettings(limits=limits, on_tamper=self.on_tamper, require_sandbox=bool(self.require_sandbox),
                             quiet_verify=bool(self.quiet_verify), **kw)
