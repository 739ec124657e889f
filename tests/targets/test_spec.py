"""Target specs: the shipped ones load, malformed ones are refused with a reason."""

from __future__ import annotations

import pytest

from greenkit.targets import load_spec, spec_names
from greenkit.targets.kinds import QUANTITIES


def test_every_shipped_spec_loads_and_uses_known_quantities():
    """Does every spec in greenkit/targets/specs load, with only registered target kinds?"""
    assert "lab00_setup" in spec_names()
    for name in spec_names():
        spec = load_spec(name)
        assert spec.lab == name and spec.targets
        for t in spec.targets:
            assert t.quantity in QUANTITIES, f"{name}: {t.kind}"


def test_lab00_targets():
    """Does lab00 ask for >= 90% accuracy and exactly the baseline's parameters?"""
    spec = load_spec("lab00_setup")
    assert spec.baseline == "cnn"
    kinds = {t.kind: t.threshold for t in spec.targets}
    assert kinds["accuracy_min"] == 0.90 and kinds["params_ratio_eq"] == 1.0


@pytest.mark.parametrize("target, message", [
    ('kind = "sparsity"\nthreshold = 0.9', "must end in _min"),
    ('kind = "sparsity_min"\nthreshold = "0.9"', "must be a number"),
    ('kind = "sparsity_min"\nthreshold = 0.9\nweight = -1', "weight"),
])
def test_malformed_targets_are_refused(write_spec, target, message):
    """Is a spec with a bad kind, threshold or weight refused with a message saying what is wrong?"""
    path = write_spec("bad", f"[[target]]\n{target}\n")
    with pytest.raises(ValueError, match=message):
        load_spec(path)


def test_lab_name_must_match_file(tmp_path):
    """Is a spec whose lab name differs from its file name refused (submissions are filed by name)?"""
    p = tmp_path / "lab_x.toml"
    p.write_text('lab = "lab_y"\n[[target]]\nkind = "accuracy_min"\nthreshold = 0.5\n')
    with pytest.raises(ValueError, match="must equal the file name"):
        load_spec(p)


def test_unknown_lab_says_which_exist():
    """Does asking for a lab without a spec name the labs that have one?"""
    with pytest.raises(FileNotFoundError, match="lab00_setup"):
        load_spec("lab99_nothing")
