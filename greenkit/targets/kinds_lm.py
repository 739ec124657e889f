"""Lab 6 (language models): what the checker computes on a submitted, weight-only quantized GPT.

Named by ``greenkit/targets/specs/lab06_language_models.toml`` through the ``scalar`` quantity
(``function = "greenkit.targets.kinds_lm:lm_perplexity_increase"``), each called as ``fn(model, ctx)``.
The submission is a :class:`greenkit.zoo.gpt.GPT` whose matrices are stored as ``qweight`` +
``scales`` (format :data:`greenkit.zoo.gpt.QUANT_FORMAT`); the checker rebuilds it from those tensors
alone (:meth:`GPT.from_state_dict` dequantizes them) and recomputes perplexity on the held-out text
itself (:func:`greenkit.zoo.gpt.perplexity`), beside the shipped FP32 ``gpt`` checkpoint.
"""

from __future__ import annotations

from torch import nn

from greenkit.zoo.gpt import GPT, perplexity

__all__ = ["lm_perplexity", "lm_perplexity_increase", "lm_size_ratio", "rebuilt_gpt"]


def rebuilt_gpt(model: nn.Module) -> GPT:
    """The submitted model as the checker loaded it: a GPT rebuilt from a state dict."""
    if type(model) is not GPT or not isinstance(getattr(model, "stored_bytes", None), int):
        raise ValueError(f"the submission is a {type(model).__name__}, not a GPT rebuilt from its state dict; "
                         f"submit a copy of gk.zoo.load('gpt') whose Linear layers and token embedding hold "
                         f"qweight/scales buffers (greenkit.zoo.gpt.QUANT_FORMAT)")
    return model


def _val_perplexity(model: GPT, ctx, key) -> float:
    from greenkit.data import load_tokens
    return ctx.cached(("lm-ppl", key), lambda: perplexity(model, load_tokens("val")))


def lm_perplexity(model: nn.Module, ctx) -> float:
    """Perplexity of the rebuilt GPT on the held-out text (every 20th record, 18,763 characters)."""
    return _val_perplexity(rebuilt_gpt(model), ctx, id(model))


def lm_perplexity_increase(model: nn.Module, ctx) -> float:
    """Held-out perplexity of the submission minus that of the spec's FP32 baseline (same text, same run)."""
    base = ctx.baseline
    return lm_perplexity(model, ctx) - _val_perplexity(base, ctx, "baseline")


def lm_size_ratio(model: nn.Module, ctx) -> float:
    """Bytes of every tensor the submission was rebuilt from, over the FP32 baseline's state dict bytes."""
    sub = rebuilt_gpt(model).stored_bytes
    base = sum(int(t.numel()) * t.element_size() for t in ctx.baseline.state_dict().values())
    return sub / base
