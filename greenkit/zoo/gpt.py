"""A small decoder-only transformer (GPT) for character-level text (lab06_language_models).

``(B, T)`` token ids -> token + learned position embeddings ``(B, T, C)`` -> ``layers`` pre-LN
blocks [x + attn(LN(x)); x + mlp(LN(x))] -> LN -> linear head -> logits ``(B, T, vocab)``.
Attention is causal: position t sees positions 0..t only. No dropout, no weight tying: every
matrix is its own tensor, so each can be quantized on its own.

A model rebuilds itself from a state dict alone (:meth:`GPT.from_state_dict`): sizes come from
tensor shapes, the head count from the ``heads_`` buffer. A weight-only quantized matrix is stored
as ``<name>.qweight`` + ``<name>.scales`` instead of ``<name>.weight`` (:func:`dequantize`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from greenkit.zoo.checkpoints import RECIPES, Recipe
from greenkit.zoo.registry import architecture

__all__ = ["GPT", "Block", "CausalSelfAttention", "dequantize", "perplexity", "QUANT_FORMAT"]

QUANT_FORMAT = """\
weight-only, symmetric, per group of g consecutive input channels (g divides the input width):
  <name>.scales  float (out, in // g)        one scale per row and group
  <name>.qweight int8  (out, in)             8 bits: w ~ q * scale, q in [-127, 127]
              or uint8 (out, in // 2)        4 bits, two per byte: column 2j in the low nibble,
                                             column 2j+1 in the high nibble, each nibble q & 0xF
                                             (two's complement, as torchao's pack_uint4 of q & 0xF),
                                             w ~ q * scale, q in [-8, 7]"""


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention: ``qkv`` projects to queries, keys, values; ``proj`` mixes heads.

    ``(B, T, C)`` -> q, k, v ``(B, H, T, C/H)`` -> softmax(q k^T / sqrt(C/H) + causal mask) v
    -> ``(B, T, C)`` -> ``proj``.
    """

    def __init__(self, width: int, heads: int):
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} must be a multiple of heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)                              # 3 x (B, T, C)
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)        # (B, H, T, C/H)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class Block(nn.Module):
    """Pre-LN transformer block: ``x + attn(ln1(x))``, then ``x + mlp(ln2(x))`` (MLP 4x wide, GELU)."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attn = CausalSelfAttention(width, heads)
        self.fc, self.fc_out = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.fc_out(F.gelu(self.fc(self.ln2(x))))


@architecture("GPT")
class GPT(nn.Module):
    """Decoder-only transformer: ``(B, T)`` int64 ids, ``T <= context`` -> logits ``(B, T, vocab_size)``."""

    def __init__(self, vocab_size: int, context: int = 128, width: int = 128, layers: int = 4, heads: int = 4):
        super().__init__()
        self.vocab_size, self.context, self.width = int(vocab_size), int(context), int(width)
        self.layers, self.heads = int(layers), int(heads)
        self.register_buffer("heads_", torch.tensor(self.heads))  # saved, so the state dict is enough
        self.tok_emb = nn.Embedding(vocab_size, width)
        self.pos_emb = nn.Embedding(context, width)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab_size, bias=False)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def config(self) -> dict:
        return {"vocab_size": self.vocab_size, "context": self.context, "width": self.width,
                "layers": self.layers, "heads": self.heads}

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        B, T = idx.shape
        if T > self.context:
            raise ValueError(f"sequence of {T} tokens is longer than the model's context {self.context}")
        x = self.tok_emb(idx) + self.pos_emb(torch.arange(T, device=idx.device))  # (B, T, C)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))                                           # (B, T, vocab)

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> GPT:
        """Rebuild a GPT (eval mode) from a state dict, plain or weight-only quantized.

        Raises ``ValueError`` naming the first key or shape that does not fit.
        """
        stored_bytes = sum(int(t.numel()) * t.element_size() for t in state.values() if isinstance(t, torch.Tensor))
        state = dequantize(state)
        try:
            vocab_size, width = (int(n) for n in state["tok_emb.weight"].shape)
            context = int(state["pos_emb.weight"].shape[0])
            layers = len({k.split(".")[1] for k in state if k.startswith("blocks.")})
            heads = int(state["heads_"])
        except (KeyError, ValueError, TypeError, RuntimeError) as err:
            raise ValueError(f"not a GPT state dict: {type(err).__name__}: {err}") from err
        if not (0 < heads <= width and width % heads == 0 and 0 < layers <= 64):
            raise ValueError(f"not a GPT state dict: {layers} layers, {heads} heads for width {width}")
        model = cls(vocab_size, context=context, width=width, layers=layers, heads=heads)
        try:
            model.load_state_dict({k: v.detach().float() if v.is_floating_point() else v
                                   for k, v in state.items()}, strict=True)
        except RuntimeError as err:
            raise ValueError(f"state dict does not fit {cls.__name__}({model.config()}): {str(err)[:400]}") from err
        model.stored_bytes = stored_bytes   # bytes of the tensors it was rebuilt from (quantized or not)
        return model.eval()

    def example_input(self, batch: int = 2, length: int = 16) -> torch.Tensor:
        """A fixed ``(batch, length)`` batch of token ids (for checking a rebuild computes the same)."""
        gen = torch.Generator().manual_seed(0)
        return torch.randint(0, self.vocab_size, (batch, min(length, self.context)), generator=gen)


def _unpack_int4(packed: torch.Tensor) -> torch.Tensor:
    """``(out, in/2)`` uint8, two 4-bit two's complement nibbles -> ``(out, in)`` int8 q in [-8, 7]
    (low nibble first)."""
    nibbles = torch.stack((packed & 0x0F, packed >> 4), dim=-1).flatten(-2).to(torch.int8)  # 0..15
    return nibbles - 16 * (nibbles >= 8).to(torch.int8)


def dequantize(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict with every ``X.qweight`` + ``X.scales`` pair (format :data:`QUANT_FORMAT`)
    replaced by the float ``X.weight`` it stands for; other entries unchanged."""
    out = {k: v for k, v in state.items() if not k.endswith((".qweight", ".scales"))}
    for key in [k for k in state if k.endswith(".qweight")]:
        name = key[: -len(".qweight")]
        q, scales = state[key], state.get(f"{name}.scales")
        if scales is None or scales.dim() != 2 or not scales.is_floating_point() or q.dim() != 2:
            raise ValueError(f"{name}: needs 2-D {name}.qweight and a float 2-D {name}.scales")
        if q.dtype == torch.uint8:
            q = _unpack_int4(q)
        elif q.dtype != torch.int8:
            raise ValueError(f"{name}.qweight must be int8 (8 bits) or uint8 (4 bits packed), got {q.dtype}")
        rows, cols = q.shape
        groups = scales.shape[1]
        if scales.shape[0] != rows or groups == 0 or cols % groups:
            raise ValueError(f"{name}: scales {tuple(scales.shape)} do not divide weights {tuple(q.shape)} "
                             f"into groups")
        w = q.float().view(rows, groups, cols // groups) * scales.float().unsqueeze(-1)
        out[f"{name}.weight"] = w.reshape(rows, cols)
    leftover = [k for k in state if k.endswith(".scales") and f"{k[:-len('.scales')]}.qweight" not in state]
    if leftover:
        raise ValueError(f"{leftover[0]} has no matching .qweight")
    return out


@torch.no_grad()
def perplexity(model: nn.Module, tokens: torch.Tensor, context: int | None = None, batch: int = 32) -> float:
    """exp(mean cross-entropy) of predicting each token from the ones before it, over
    non-overlapping windows of ``context`` tokens (default: the model's); the first token of each
    window is context only. ``tokens``: int64 ``(N,)``; a tail shorter than 2 tokens is dropped."""
    context = int(context or model.context)
    n = (len(tokens) // context) * context
    windows = [tokens[:n].view(-1, context)]
    if len(tokens) - n >= 2:
        windows.append(tokens[n:].view(1, -1))
    total, count = 0.0, 0
    for w in windows:
        for i in range(0, len(w), batch):
            x = w[i:i + batch]
            logits = model(x[:, :-1])                                      # (b, T-1, vocab)
            total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1),
                                           reduction="sum"))
            count += x[:, 1:].numel()
    return float(torch.exp(torch.tensor(total / count)))


# The shipped checkpoints (trained by greenkit.zoo.gpt_train; ``epochs`` counts optimizer steps here).
VOCAB_SIZE = 4057  # greenkit.data.tokenizer().vocab_size, checked when training
RECIPES["gpt"] = Recipe(GPT, {"vocab_size": VOCAB_SIZE, "context": 128, "width": 128, "layers": 4, "heads": 4},
                        epochs=700, lr=2e-3, batch_size=16,
                        description="Character-level GPT (~1.8 M params) on Tang/Song poems and Chinese "
                                    "sayings; the 'large' model of lab06.")
RECIPES["gpt-small"] = Recipe(GPT, {"vocab_size": VOCAB_SIZE, "context": 128, "width": 64, "layers": 1,
                                    "heads": 2},
                              epochs=800, lr=3e-3, batch_size=16,
                              description="Draft GPT (~0.58 M params, one block), same tokenizer and text; the "
                                          "speculative-decoding drafter of lab06 (a step costs ~1/4 of gpt's).")
