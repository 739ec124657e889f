"""Lab 3 (quantization): the shared round trip, plus fast checks of its hand-written parts and spec."""

from __future__ import annotations

import pytest
import torch

from greenkit.course import LABS, SOLUTIONS, cell_sources, roundtrip, submission_with

LAB = "lab03_quantization"
HAND_PARTS = ["quant_basics", "quantize_weight", "sqnr", "int4_pack", "fake_quant", "calibrate"]

# Plausible wrong answers of the right types, dtypes and shapes (issue 13: a wrong answer earns nothing):
# scales that ignore the range or divide by 255 on a signed grid, rounding without the scale, a packer
# that drops the high nibble, an identity "fake quantizer", a fixed calibration range, FP32 passed off
# as INT8, a made-up prediction.
GARBAGE = {
    "quant_basics": (
        "def affine_qparams(x_min, x_max, n_bits=8):\n"
        "    return torch.ones_like(x_min, dtype=torch.float32), torch.zeros_like(x_min, dtype=torch.int32)\n\n\n"
        "def symmetric_scale(abs_max, n_bits=8):\n"
        "    return (abs_max / 255).to(torch.float32)\n\n\n"
        "def quantize(x, scale, zero_point, qmin, qmax):\n"
        "    return x.round().clamp(qmin, qmax).to(torch.int32)\n\n\n"
        "def dequantize(q, scale, zero_point):\n"
        "    return q.to(torch.float32)\n"),
    "quantize_weight": (
        "def quantize_weight(w, n_bits=8, per_channel=True):\n"
        "    scale = torch.ones(w.shape[0], 1) if per_channel else torch.tensor(1.0)\n"
        "    return w.round().clamp(-127, 127).to(torch.int8), scale\n"),
    "sqnr": "def sqnr_db(x, x_hat):\n    return 30.0\n",
    "int4_pack": (
        "def pack_int4(q):\n"
        "    return (q[..., ::2] & 0xF).to(torch.uint8)\n\n\n"
        "def unpack_int4(packed):\n"
        "    return packed.to(torch.int8).repeat_interleave(2, dim=-1)\n"),
    "fake_quant": (
        "def fake_quant_ste(x, scale, zero_point, qmin, qmax):\n"
        "    return x\n\n\n"
        "class QATLinear(nn.Linear):\n"
        "    def __init__(self, in_features, out_features, bias=True, n_bits=4):\n"
        "        super().__init__(in_features, out_features, bias)\n"
        "        self.n_bits = n_bits\n\n"
        "    def forward(self, x):\n"
        "        return F.linear(x, self.weight, self.bias)\n"),
    "calibrate": (
        "def calibrate(model, batches, method='minmax', pct=99.99):\n"
        "    return {n: (-1.0, 1.0) for n, m in model.named_modules() if isinstance(m, nn.Linear)}\n"),
    "choose_calibration": 'CALIBRATION, PCT = "percentile", 99.99\n',
    "int8_torchao": (
        "import copy\n"
        "from greenkit.toolchain import cpp_compiler\n\n"
        "HAVE_CXX = cpp_compiler().available\n\n\n"
        "def int8_torchao(model):\n"
        "    return copy.deepcopy(model).eval()\n"),
    "prediction": "predicted_int8_latency_ratio = 0.25\n",
}


def _cells(root) -> dict[str, str]:
    return cell_sources(LAB, root)


def _namespace(root) -> dict:
    """The notebook's imports (without loading the baseline) and the cells of the hand parts."""
    ns: dict = {}
    exec("import copy, io, math, time\nimport torch\nimport torch.nn.functional as F\nfrom torch import nn\n"
         "import greenkit as gk", ns)
    cells = _cells(root)
    for gid in HAND_PARTS:
        exec(cells[gid], ns)
    return ns


def test_solution_matches_torch_quantize_ops():
    """Do the reference solution's quantizers agree with torch's own quantize/fake-quantize ops?"""
    ns = _namespace(SOLUTIONS)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 50, generator=g) * 2 + 0.5
    s, z = ns["affine_qparams"](x.min(), x.max(), 8)
    ref = torch.quantize_per_tensor(x, s.item(), z.item(), torch.quint8)
    q = ns["quantize"](x, s, z, 0, 255)
    assert torch.equal(q, ref.int_repr().to(torch.int32))
    assert torch.allclose(ns["dequantize"](q, s, z), ref.dequantize(), atol=1e-6)
    qw, sw = ns["quantize_weight"](x, 4, True)
    want = torch.fake_quantize_per_channel_affine(x, sw.flatten(), torch.zeros(32, dtype=torch.int32), 0, -7, 7)
    assert qw.dtype == torch.int8 and torch.allclose(qw.float() * sw, want, atol=1e-6)


def test_solution_int4_round_trip_and_ste():
    """Is INT4 packing exact, and does the STE's gradient match torch.fake_quantize's?"""
    ns = _namespace(SOLUTIONS)
    q = torch.randint(-8, 8, (9, 64), dtype=torch.int8)
    packed = ns["pack_int4"](q)
    assert packed.dtype == torch.uint8 and packed.shape == (9, 32)
    assert torch.equal(ns["unpack_int4"](packed), q)
    x = (torch.randn(4, 10) * 3).requires_grad_(True)
    x2 = x.detach().clone().requires_grad_(True)
    s, z = torch.full((4,), 0.4), torch.zeros(4, dtype=torch.int32)
    ns["fake_quant_ste"](x, s.view(4, 1), z.view(4, 1), -7, 7).sum().backward()
    torch.fake_quantize_per_channel_affine(x2, s, z, 0, -7, 7).sum().backward()
    assert torch.equal(x.grad, x2.grad)


def test_student_version_raises_not_implemented():
    """Does every hand-written function in the released notebook raise NotImplementedError untouched?"""
    ns = _namespace(LABS)
    calls = [lambda: ns["affine_qparams"](torch.tensor(-1.0), torch.tensor(1.0)),
             lambda: ns["symmetric_scale"](torch.tensor(1.0)),
             lambda: ns["quantize_weight"](torch.ones(2, 2)),
             lambda: ns["sqnr_db"](torch.ones(2), torch.ones(2)),
             lambda: ns["pack_int4"](torch.zeros(2, dtype=torch.int8)),
             lambda: ns["calibrate"](torch.nn.Linear(2, 2), [torch.ones(1, 2)])]
    for call in calls:
        with pytest.raises(NotImplementedError):
            call()


def test_in_kernel_energy_check_earns_no_points():
    """Is the in-kernel INT8 energy check ungraded (a patched gk.compare could pass it), its points on the report card?"""
    import json

    nb = json.loads((SOLUTIONS / LAB / f"{LAB}.ipynb").read_text())
    meta = {c["metadata"]["nbgrader"].get("grade_id"): c["metadata"]["nbgrader"]
            for c in nb["cells"] if "nbgrader" in c["metadata"]}
    assert not meta["int8_energy"].get("grade") and "points" not in meta["int8_energy"]
    assert meta["report_card"]["points"] == 6


def test_without_a_cpp_compiler_the_eager_int8_path_earns_the_points(monkeypatch):
    """With no C++ compiler, does int8_torchao return torchao's eager INT8 model, and does its grade cell pass?"""
    import greenkit as gk
    from greenkit import toolchain

    monkeypatch.setattr(toolchain, "cpp_compiler", lambda: toolchain.CompilerCheck(
        False, None, "none of g++, clang++, c++ is on PATH", "install a C++ compiler"))
    ns = _namespace(SOLUTIONS)
    baseline = gk.zoo.load("mlp")
    x_test, y_test = gk.data.load("test", n_per_class=100)

    def accuracy(model, x=x_test, y=y_test):
        with torch.inference_mode():
            return (model.eval()(x).argmax(1) == y).float().mean().item()

    ns.update(baseline=baseline, accuracy=accuracy, base_acc=accuracy(baseline), int8_mine=baseline,
              _state={k: v.clone() for k, v in baseline.state_dict().items()})
    exec(_cells(SOLUTIONS)["int8_torchao"], ns)
    assert ns["HAVE_CXX"] is False
    ns["fast_int8"] = ns["int8_torchao"](baseline)
    assert not hasattr(ns["fast_int8"], "_orig_mod"), "no compiler: the quantized copy itself, not torch.compile"
    exec(_cells(SOLUTIONS)["test_int8_torchao"], ns)      # visible and hidden tests


def test_spec_loads():
    """Does the lab's target spec parse, with its four targets on the two artefacts?"""
    from greenkit.targets import load_spec
    spec = load_spec(LAB)
    assert spec.baseline == "mlp"
    assert {(t.id, t.artefact) for t in spec.targets} == {
        ("int8-accuracy", "int8"), ("int8-size", "int8"), ("int4-accuracy", "int4"), ("int4-size", "int4")}


@pytest.mark.slow
def test_int8_energy_grade_cell_fails_an_unquantized_pipeline():
    """Does the INT8 energy self-check (0 points) flag a pipeline that compiles but does not quantize?"""
    import greenkit as gk

    baseline = gk.zoo.load("mlp")
    x_test, _ = gk.data.load("test")
    ns = _namespace(SOLUTIONS)
    ns.update(baseline=baseline, batch=x_test[:256], HAVE_CXX=True,
              int8_torchao=lambda model: torch.compile(ns["copy"].deepcopy(model)))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the lab does
    try:
        with pytest.raises(AssertionError, match="the reference's energy per inference"):
            exec(_cells(SOLUTIONS)["int8_energy"], ns)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.slow
def test_lab03_roundtrip(tmp_path):
    """Does the solution earn full marks, the untouched notebook and plausible garbage zero, and labs/
    match generation?"""
    result = roundtrip(LAB, wrong={"garbage": submission_with(LAB, GARBAGE, tmp_path / "garbage")})
    assert result.ok, str(result)
