"""greenkit.zoo.gpt and the text corpus: the GPT lab06 is built on, checked against independent references."""

from __future__ import annotations

import hashlib
import math
from collections import Counter

import pytest
import torch
from torch.nn import functional as F

from greenkit import data
from greenkit.paths import REPO_DATASETS
from greenkit.targets import kinds_lm
from greenkit.zoo.gpt import GPT, perplexity


def _small_gpt(seed: int = 0, vocab: int = 40, **kw) -> GPT:
    torch.manual_seed(seed)
    model = GPT(vocab, **{"context": 16, "width": 24, "layers": 2, "heads": 3, **kw}).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3)   # larger than the init, so attention is far from uniform
    return model


def test_corpus_file_matches_its_published_checksum_and_has_no_escape_codes():
    """Is datasets/text/fortunes-zh.txt the file SHA256SUMS names, clean UTF-8 without terminal codes?"""
    folder = REPO_DATASETS / "text"
    want = dict(line.split()[::-1] for line in (folder / "SHA256SUMS").read_text().splitlines())
    raw = (folder / "fortunes-zh.txt").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == want["fortunes-zh.txt"] == data.TEXT_SHA256
    text = raw.decode("utf-8")
    assert "\x1b" not in text and 0.8e6 < len(raw) < 1.2e6
    assert "床前明月光" in text and (folder / "COPYING").read_text().startswith("                    GNU GENERAL PUBLIC LICENSE")


def test_validation_split_is_every_twentieth_record_and_disjoint_from_training():
    """Is 'val' exactly records 19, 39, ... and 'train' all the others, nothing shared?"""
    records = (REPO_DATASETS / "text" / "fortunes-zh.txt").read_text(encoding="utf-8").rstrip("\n").split("\n\n")
    val, train = data.load_text("val"), data.load_text("train")
    assert val.split("\n\n") == records[19::20]
    assert len(train.split("\n\n")) == len(records) - len(records[19::20])
    assert len(val) + len(train) + 2 == sum(len(r) for r in records) + 2 * (len(records) - 1)
    with pytest.raises(ValueError, match="'train' or 'val'"):
        data.load_text("test")


def test_tokenizer_is_the_training_characters_seen_three_times():
    """Is the vocabulary UNK + every training character seen >= 3 times, in code-point order, round-tripping?"""
    counts = Counter(data.load_text("train"))
    want = sorted(c for c, n in counts.items() if n >= 3)
    tok = data.tokenizer()
    assert tok.chars == (data.UNK, *want) and tok.vocab_size == 4057
    line = "床前明月光，疑是地上霜。"
    assert tok.decode(tok.encode(line)) == line
    assert tok.encode("\U0001f600") == [0]                 # an emoji never seen: unknown
    ids = data.load_tokens("val")
    assert ids.dtype == torch.int64 and len(ids) == len(data.load_text("val"))


def _reference_forward(model: GPT, idx: torch.Tensor) -> torch.Tensor:
    """The GPT written out position by position with explicit softmax loops (no SDPA, no masks)."""
    B, T = idx.shape
    x = model.tok_emb.weight[idx] + model.pos_emb.weight[:T]
    for blk in model.blocks:
        h = F.layer_norm(x, (model.width,), blk.ln1.weight, blk.ln1.bias)
        qkv = h @ blk.attn.qkv.weight.T + blk.attn.qkv.bias
        q, k, v = qkv.split(model.width, dim=-1)
        D = model.width // model.heads
        out = torch.zeros_like(h)
        for b in range(B):
            for head in range(model.heads):
                sl = slice(head * D, (head + 1) * D)
                for t in range(T):
                    s = torch.stack([q[b, t, sl] @ k[b, u, sl] for u in range(t + 1)]) / math.sqrt(D)
                    p = torch.exp(s - s.max()) / torch.exp(s - s.max()).sum()
                    out[b, t, sl] = sum(p[u] * v[b, u, sl] for u in range(t + 1))
        x = x + out @ blk.attn.proj.weight.T + blk.attn.proj.bias
        h = F.layer_norm(x, (model.width,), blk.ln2.weight, blk.ln2.bias)
        x = x + F.gelu(h @ blk.fc.weight.T + blk.fc.bias) @ blk.fc_out.weight.T + blk.fc_out.bias
    x = F.layer_norm(x, (model.width,), model.ln_f.weight, model.ln_f.bias)
    return x @ model.head.weight.T


@torch.no_grad()
def test_gpt_matches_a_position_by_position_reference_and_is_causal():
    """Does GPT compute pre-LN causal attention blocks exactly as written out by hand, never seeing the future?"""
    model = _small_gpt()
    idx = torch.randint(0, 40, (2, 9), generator=torch.Generator().manual_seed(1))
    out = model(idx)
    assert out.shape == (2, 9, 40)
    assert torch.allclose(out, _reference_forward(model, idx), atol=1e-4)
    changed = idx.clone()
    changed[:, -1] = (changed[:, -1] + 1) % 40
    assert torch.allclose(model(changed)[:, :-1], out[:, :-1], atol=1e-6)
    with pytest.raises(ValueError, match="longer than the model's context"):
        model(torch.zeros(1, 17, dtype=torch.long))


def _torchao_groupwise(w: torch.Tensor, bits: int, group: int):
    from torchao.quantization.quant_primitives import (
        MappingType,
        choose_qparams_affine,
        dequantize_affine,
        quantize_affine,
    )
    qmax = 2 ** (bits - 1) - 1
    s, z = choose_qparams_affine(w, MappingType.SYMMETRIC, (1, group), torch.int8, quant_min=-qmax, quant_max=qmax)
    q = quantize_affine(w, (1, group), s, z, torch.int8, quant_min=-qmax, quant_max=qmax)
    return q, s.view(w.shape[0], -1), dequantize_affine(q, (1, group), s, z, torch.int8, quant_min=-qmax,
                                                         quant_max=qmax, output_dtype=torch.float32)


@torch.no_grad()
def test_from_state_dict_dequantizes_int8_and_packed_int4_like_torchao():
    """Does a state dict of qweight/scales (INT8, or INT4 packed as torchao's pack_uint4) rebuild torchao's weights?"""
    from torchao.prototype.mx_formats.kernels import pack_uint4
    model = _small_gpt()
    for bits, group in ((8, 8), (4, 12), (4, 24)):
        state = dict(model.state_dict())
        want = {}
        for name in ("blocks.0.attn.qkv", "blocks.1.fc_out", "head", "tok_emb"):
            q, s, deq = _torchao_groupwise(state.pop(f"{name}.weight"), bits, group)
            state[f"{name}.qweight"] = pack_uint4((q.to(torch.int16) & 0xF).to(torch.uint8)) if bits == 4 else q
            state[f"{name}.scales"] = s
            want[name] = deq
        rebuilt = GPT.from_state_dict(state)
        assert rebuilt.config() == model.config()
        for name, deq in want.items():
            assert torch.allclose(rebuilt.get_submodule(name).weight, deq, atol=1e-6), (bits, group, name)
        assert rebuilt.stored_bytes == sum(t.numel() * t.element_size() for t in state.values())
    plain = GPT.from_state_dict(model.state_dict())
    x = model.example_input()
    assert torch.equal(plain(x), model(x))


@pytest.mark.parametrize("edit, match", [
    (lambda s: s.pop("heads_"), "not a GPT state dict"),
    (lambda s: s.update({"head.qweight": torch.zeros(40, 24, dtype=torch.int8)}), "needs 2-D head.qweight"),
    (lambda s: s.update({"head.qweight": torch.zeros(40, 24, dtype=torch.int8), "head.scales": torch.ones(40, 5)}),
     "do not divide"),
    (lambda s: s.update({"head.qweight": torch.zeros(40, 24, dtype=torch.int32), "head.scales": torch.ones(40, 2)}),
     "must be int8"),
    (lambda s: s.update({"fc.scales": torch.ones(3, 1)}), "no matching .qweight"),
    (lambda s: s.update({"blocks.0.fc.weight": torch.zeros(3, 3)}), "does not fit"),
])
def test_a_malformed_state_dict_is_refused_with_a_reason(edit, match):
    """Does from_state_dict raise ValueError naming the problem for each malformed state dict?"""
    state = dict(_small_gpt().state_dict())
    edit(state)
    with pytest.raises(ValueError, match=match):
        GPT.from_state_dict(state)


@torch.no_grad()
def test_perplexity_is_exp_mean_cross_entropy_over_windows():
    """Is perplexity vocab-size for a uniform model, and exp(mean CE) over windows for a real one?"""
    uniform = _small_gpt()
    for p in uniform.parameters():
        p.zero_()
    assert perplexity(uniform, torch.arange(50) % 40) == pytest.approx(40.0, rel=1e-5)
    model = _small_gpt(seed=3)
    ids = torch.randint(0, 40, (37,), generator=torch.Generator().manual_seed(2))
    nll = []
    for s in range(0, 37, 16):                             # windows 0-15, 16-31, 32-36
        w = ids[s:s + 16]
        logp = F.log_softmax(model(w[None, :-1])[0], dim=-1)
        nll += [-logp[i, w[i + 1]].item() for i in range(len(w) - 1)]
    assert perplexity(model, ids) == pytest.approx(math.exp(sum(nll) / len(nll)), rel=1e-5)


class _Ctx:
    def __init__(self, baseline):
        self.baseline, self._cache = baseline, {}

    def cached(self, key, fn):
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]


@torch.no_grad()
def test_lm_quantities_count_stored_bytes_and_refuse_what_is_not_a_rebuilt_gpt(monkeypatch):
    """Is the size ratio the rebuilt state dict's bytes over FP32's, and is a plain module refused?"""
    held_out = data.load_tokens("val")[:300]
    monkeypatch.setattr(data, "load_tokens", lambda split: held_out if split == "val" else None)
    base = GPT(data.tokenizer().vocab_size, context=32, width=16, layers=1, heads=2).eval()
    state = dict(base.state_dict())
    state["head.qweight"], state["head.scales"] = torch.zeros(base.vocab_size, 8, dtype=torch.uint8), \
        torch.ones(base.vocab_size, 1)
    del state["head.weight"]
    sub = GPT.from_state_dict(state)
    fp32 = sum(t.numel() * t.element_size() for t in base.state_dict().values())
    ctx = _Ctx(base)
    assert kinds_lm.lm_size_ratio(sub, ctx) == pytest.approx(
        (fp32 - base.vocab_size * 16 * 4 + base.vocab_size * (8 + 4)) / fp32)
    # the head's weights are all zero now: a uniform prediction, perplexity = vocabulary size
    assert kinds_lm.lm_perplexity(sub, ctx) > 0.5 * base.vocab_size
    assert kinds_lm.lm_perplexity_increase(sub, ctx) == pytest.approx(
        kinds_lm.lm_perplexity(sub, ctx) - perplexity(base, held_out), rel=1e-6)
    with pytest.raises(ValueError, match="not a GPT rebuilt from its state dict"):
        kinds_lm.lm_size_ratio(base, ctx)                  # never rebuilt: no stored_bytes


def test_shipped_checkpoints_load_and_reproduce_their_recorded_perplexity():
    """Do gpt and gpt-small load checksum-verified, and give the held-out perplexity their JSON records?"""
    from greenkit import zoo
    for name, lo, hi in (("gpt", 1.5e6, 2.5e6), ("gpt-small", 0.4e6, 0.7e6)):
        meta = zoo.info(name)
        model = zoo.load(name)
        assert type(model) is GPT and lo < meta["params"] == sum(p.numel() for p in model.parameters()) < hi
        assert {"seed", "steps", "final_train_loss", "made_by", "sha256", "sample_greedy"} <= set(meta)
        ppl = perplexity(model, data.load_tokens("val"))
        assert ppl == pytest.approx(meta["val_perplexity"], rel=1e-3)
    assert zoo.info("gpt")["val_perplexity"] < zoo.info("gpt-small")["val_perplexity"]
