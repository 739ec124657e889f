"""Lab 6 (efficient language models): the round trip, and the grade cells against wrong answers."""

from __future__ import annotations

import pytest
import torch

from greenkit.course import roundtrip, submission_with
from greenkit.course.notebooks import cell_sources

LAB = "lab06_language_models"


@pytest.fixture(scope="module")
def cells() -> dict[str, str]:
    return cell_sources(LAB)


@pytest.fixture(scope="module")
def solved(cells) -> dict:
    """The namespace of the solution's setup, hand-written functions and locked helpers (no measurements)."""
    ns: dict = {"display": print}
    for gid in ("setup", "attention_step", "forward-cached", "kv_cache_bytes", "generate", "perplexity",
                "quantize", "quant_linear", "quantize-gpt", "speculative"):
        exec(cells[gid], ns)
    return ns


def _run(cells, ns: dict, grade_id: str) -> None:
    exec(cells[grade_id], dict(ns))


GRADE_CELLS = ("test_attention_step", "test_kv_cache_bytes", "test_generate", "test_perplexity", "test_quantize",
               "test_quant_linear", "test_speculative")


@pytest.mark.parametrize("grade_id", GRADE_CELLS)
def test_reference_solution_passes_each_grade_cell(cells, solved, grade_id):
    """Does the reference solution pass each hand-written part's grade cell, hidden tests included?"""
    _run(cells, solved, grade_id)


def _garbage(ns: dict) -> dict:
    """Answers of the right types and shapes that are wrong (and a plain-decoding 'speculative' cheat)."""
    torch, F = ns["torch"], ns["F"]
    bad = dict(ns)

    def attention_step(attn, x, cache=None):            # no attention at all: the values, projected
        B, T, C = x.shape
        y, kv = ns["attention_step"](attn, x, cache)
        return attn.proj(x), kv

    def generate(model, prompt_ids, new_tokens, temperature=0.0, generator=None, use_cache=True):
        return [int(prompt_ids[-1])] * new_tokens     # repeats the last token

    def perplexity(model, ids, context):
        return float(ns["perplexity"](model, ids, max(2, context // 2)))  # wrong windows

    def quantize_groupwise(w, bits, group_size):           # one scale per row, not per group
        q, s = ns["quantize_groupwise"](w, bits, w.shape[1])
        return q, s.repeat(1, w.shape[1] // group_size)

    def speculative_generate(large, small, prompt_ids, new_tokens, k):
        return ns["generate"](large, prompt_ids, new_tokens), 0.5   # plain decoding, made-up rate

    class QuantLinear(ns["QuantLinear"]):
        pass

    QuantLinear.forward = lambda self, x: F.linear(x, torch.zeros(self.out_features, self.in_features), self.bias)
    bad.update(attention_step=attention_step, generate=generate, perplexity=perplexity,
               quantize_groupwise=quantize_groupwise, speculative_generate=speculative_generate,
               QuantLinear=QuantLinear, kv_cache_bytes=lambda *a, **k: 0)
    return bad


@pytest.mark.parametrize("grade_id", GRADE_CELLS)
def test_wrong_answers_of_the_right_shape_fail_every_grade_cell(cells, solved, grade_id):
    """Does each grade cell fail an answer of the right type and shape that is wrong (or cheats)?"""
    bad = _garbage(solved)
    if grade_id in ("test_attention_step", "test_kv_cache_bytes"):
        exec(cells["forward-cached"], bad)                 # the locked helper now calls the bad attention
    with pytest.raises((AssertionError, ValueError)):
        _run(cells, bad, grade_id)


def test_report_card_checker_fails_an_fp32_copy_and_a_zeroed_int4_model(solved, tmp_path):
    """Does the fresh-process checker fail the FP32 model (too big) and an INT4 model of zeros (too wrong)?"""
    import greenkit as gk
    ns = solved
    large = ns["large"]
    zeroed = ns["quantize_gpt"](large, 4, 32)
    for m in zeroed.modules():
        if hasattr(m, "qweight") and m.qweight.dtype == torch.uint8:
            m.qweight.zero_()
    report = gk.check({"int4": ns["copy"].deepcopy(large)}, lab=LAB, root=tmp_path)
    assert not report.passed and not report.error
    assert {r.id: r.status for r in report.results}["int4-size"] == "fail"
    report = gk.check({"int4": zeroed}, lab=LAB, root=tmp_path)
    assert {r.id: r.status for r in report.results} == {"int4-size": "pass", "int4-perplexity": "fail"}
    # (the solution's INT4 model passing is the round trip's report card)


# Plausible wrong answers of the right types and shapes (issue 13: a wrong answer earns nothing): attention
# that passes its input through and caches zeros, a KV-cache size that forgets the values, decoding that
# repeats the last token, a made-up perplexity, a quantizer without scales, a packer that drops the high
# nibble, a dequantizer and a layer that return zeros, "speculation" that returns a constant.
GARBAGE = {
    "attention_step": (
        "def attention_step(attn, x, cache=None):\n"
        "    B, T, C = x.shape\n"
        "    H = attn.heads\n"
        "    P = 0 if cache is None else cache['k'].shape[2]\n"
        "    kv = torch.zeros(B, H, P + T, C // H)\n"
        "    return x.clone(), {'k': kv, 'v': kv.clone()}\n"),
    "kv_cache_bytes": (
        "def kv_cache_bytes(layers, heads, width, context, batch=1, bytes_per_value=4):\n"
        "    return layers * width * context * batch * bytes_per_value\n"),
    "generate": (
        "def generate(model, prompt_ids, new_tokens, temperature=0.0, generator=None, use_cache=True):\n"
        "    return [int(prompt_ids[-1])] * new_tokens\n"),
    "perplexity": "def perplexity(model, ids, context):\n    return 50.0\n",
    "quantize": (
        "def quantize_groupwise(w, bits, group_size):\n"
        "    lim = 2 ** (bits - 1) - 1\n"
        "    q = w.round().clamp(-lim - 1, lim).to(torch.int8)\n"
        "    return q, torch.ones(w.shape[0], w.shape[1] // group_size)\n\n\n"
        "def pack_int4(q):\n"
        "    return (q[..., ::2] & 0xF).to(torch.uint8)\n\n\n"
        "def dequantize_groupwise(qweight, scales, bits):\n"
        "    cols = qweight.shape[1] * (2 if bits == 4 else 1)\n"
        "    return torch.zeros(qweight.shape[0], cols)\n"),
    "quant_linear": (
        "class QuantLinear(nn.Module):\n"
        "    def __init__(self, linear, bits, group_size):\n"
        "        super().__init__()\n"
        "        self.bits, self.group_size = bits, group_size\n"
        "        self.in_features, self.out_features = linear.in_features, linear.out_features\n"
        "        q, scales = quantize_groupwise(linear.weight, bits, group_size)\n"
        "        self.register_buffer('qweight', pack_int4(q) if bits == 4 else q)\n"
        "        self.register_buffer('scales', scales)\n"
        "        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().clone(), requires_grad=False)\n\n"
        "    def forward(self, x):\n"
        "        return torch.zeros(*x.shape[:-1], self.out_features)\n"),
    "choose_group_size": (
        "GROUP_SIZE = 32\n"
        "int4_model = quantize_gpt(large, 4, GROUP_SIZE)\n"
        "int8_model = quantize_gpt(large, 8, GROUP_SIZE)\n"
        "print(f'INT4 g={GROUP_SIZE}: {state_bytes(int4_model) / fp32_bytes:.3f} of FP32 bytes')\n"),
    "speculative": (
        "def speculative_generate(large, small, prompt_ids, new_tokens, k):\n"
        "    return [0] * new_tokens, 1.0\n"),
    "choose_k": "K = 4\n",
    "prediction": "predicted_int8_decode_speedup = 2.0\n",
}


@pytest.mark.slow
def test_lab06_round_trip(tmp_path):
    """Solution full marks, untouched student notebook and plausible garbage zero without crashing, labs/ in sync?"""
    result = roundtrip(LAB, wrong={"garbage": submission_with(LAB, GARBAGE, tmp_path / "garbage")})
    assert result.ok, str(result)
