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


@pytest.mark.parametrize("section, body, key, near", [
    ("target", '[[target]]\nkind = "size_ratio_max"\nthreshold = 0.5\nencodng = "int8"\n', "encodng", "encoding"),
    ("target", '[[target]]\nkind = "accuracy_min"\nthreshold = 0.5\nthreshhold = 0.6\n', "threshhold", "threshold"),
    ("data", '[[target]]\nkind = "accuracy_min"\nthreshold = 0.5\n[energy]\nbatch = 4\npair = 8\n', "pair", "pairs"),
    ("top", 'basline = "mlp"\n[[target]]\nkind = "accuracy_min"\nthreshold = 0.5\n', "basline", "baseline"),
])
def test_a_typo_is_refused_with_file_line_and_nearest_key(tmp_path, section, body, key, near):
    """Is a misspelt key (which used to become a silent default) refused naming the file, its line
    and the nearest valid key?"""
    path = tmp_path / "typo.toml"
    path.write_text('lab = "typo"\n' + body)
    line = 1 + next(i for i, text in enumerate(path.read_text().splitlines()) if text.startswith(key))
    with pytest.raises(ValueError) as err:
        load_spec(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}:{line}: ") and f"unknown key {key!r}" in msg
    assert f"did you mean {near!r}" in msg, msg


@pytest.mark.parametrize("body, message", [
    ('[data]\nn_per_class = "all"\n', "n_per_class must be"),
    ('[energy]\nrequire_measured = "yes"\n', "require_measured must be bool"),
    ('[data]\nsplit = "train"\n', "held-out"),
    ('[[target]]\nkind = "sparsity_min"\nthreshold = 0.5\nscope = "everything"\n', "scope"),
    ('[[target]]\nkind = "size_ratio_max"\nthreshold = 0.5\nencoding = "int3"\n', "int3"),
    ('[[target]]\nkind = "scalar_max"\nthreshold = 0.5\n', "function"),
    ('[[target]]\nkind = "accuracy_gain_min"\nthreshold = 0.5\n', "over"),
    ('[[target]]\nkind = "acuracy_min"\nthreshold = 0.5\n', "did you mean 'accuracy'"),
])
def test_wrong_values_are_refused_with_the_reason(tmp_path, body, message):
    """Is a value of the wrong type, a bad option or an unknown quantity refused, saying which?"""
    path = tmp_path / "bad.toml"
    target = '' if "[[target]]" in body else '[[target]]\nkind = "accuracy_min"\nthreshold = 0.5\n'
    path.write_text('lab = "bad"\n' + body + target)
    with pytest.raises(ValueError, match=message):
        load_spec(path)


def test_the_comparison_lives_in_op():
    """Does Op parse the kind's suffix, decide pass/fail and render the threshold, for all three?"""
    from greenkit.targets import Op, TargetSpec
    assert Op.split_kind("accuracy_drop_max") == ("accuracy_drop", Op.MAX)
    assert Op.MIN.holds(0.9, 0.9) and not Op.MIN.holds(0.89, 0.9)
    assert Op.MAX.holds(0.5, 0.5) and not Op.MAX.holds(0.51, 0.5)
    assert Op.EQ.holds(1.0 + 1e-12, 1.0) and not Op.EQ.holds(1.01, 1.0, tolerance=1e-3)
    assert [o.render("1") for o in Op] == [">= 1", "<= 1", "== 1"]
    t = TargetSpec(kind="params_ratio_eq", threshold=1.0, tolerance=0.1)
    assert t.holds(1.05) and not t.holds(1.2)


def test_a_new_quantity_module_registers_its_kind_and_options(monkeypatch, tmp_path):
    """Can a module outside kinds.py (e.g. kinds_lm) add a quantity whose options a spec then
    type-checks, by one entry in QUANTITY_MODULES?"""
    import sys
    import textwrap
    from dataclasses import dataclass  # noqa: F401  (used by the module text)

    from greenkit.targets import registry
    mod = tmp_path / "gk_test_kinds_extra.py"
    mod.write_text(textwrap.dedent('''
        from dataclasses import dataclass
        from greenkit.targets.kinds import Measured, Options, quantity

        @dataclass(frozen=True)
        class PerplexityOptions(Options):
            tokens: int = 1000

        @quantity("perplexity_test", options=PerplexityOptions)
        def _perplexity(ctx, t):
            return Measured(float(t.options.tokens), "measured", "test")
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "QUANTITY_MODULES", (*registry.QUANTITY_MODULES, "gk_test_kinds_extra"))
    try:
        path = tmp_path / "lm.toml"
        path.write_text('lab = "lm"\n[[target]]\nkind = "perplexity_test_max"\nthreshold = 50\ntokens = 64\n')
        assert load_spec(path).targets[0].options.tokens == 64
        path.write_text('lab = "lm"\n[[target]]\nkind = "perplexity_test_max"\nthreshold = 50\ntoken = 64\n')
        with pytest.raises(ValueError, match="did you mean 'tokens'"):
            load_spec(path)
    finally:
        registry.QUANTITIES.pop("perplexity_test", None)
        sys.modules.pop("gk_test_kinds_extra", None)
