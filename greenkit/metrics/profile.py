"""Static and per-inference cost of a model: parameters, sparsity, bytes, MACs, BitOps.

>>> import greenkit as gk
>>> p = gk.profile(gk.zoo.build("cnn"), torch.zeros(1, 1, 28, 28))
>>> p.params, p.macs, p.sparsity                 # per inference (batch size divided out)
>>> p.size_under("int8"), p.size_bytes           # theoretical vs serialized bytes
>>> p                                            # a per-layer table in a notebook

Definitions (per inference, i.e. divided by the batch size of ``inputs``):

- ``macs``: multiply-accumulates counted by PyTorch's own operator counter
  (:class:`torch.utils.flop_counter.FlopCounterMode`, which counts matmul,
  convolution, attention, ...) as ``flops / 2``. Element-wise work (BatchNorm,
  ReLU, pooling, additions) is not counted, as in published figures
  (torchvision's "GFLOPS" column, ptflops, fvcore). Quantized layers that the
  counter cannot see (torchao tensor subclasses) are counted analytically:
  Linear ``out.numel() * in_features``; ConvNd ``out.numel() * (C_in / groups) * prod(kernel)``.
- ``flops = 2 * macs``.
- ``effective_macs``: MACs whose weight is nonzero. For Linear and ConvNd each
  output element needs one MAC per nonzero weight of its filter, so
  ``effective = macs * nnz(W) / numel(W)`` exactly (padding zeros in the
  *input* are still counted, as in the dense count). Other layers count dense.
- ``bitops = macs * weight_bits * activation_bits`` per layer (the BOPs of
  mixed-precision papers; fp32 x fp32 = 1024 per MAC).
- ``params``: every parameter, plus buffers of 2+ dims (a weight kept in a buffer counts; BatchNorm's
  1-D running statistics do not). ``sparsity = 1 - nonzero_params / params`` (biases included).
- ``size_bytes``: bytes of the file ``torch.save(model.state_dict(), "model.pt")`` writes.
- ``size_under(encoding)``: theoretical bytes under an :data:`ENCODINGS` entry
  (see :class:`Encoding`).
"""

from __future__ import annotations

import html
import math
import os
import tempfile
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from greenkit.tensors import as_args, batch_size, eval_mode

__all__ = ["Encoding", "ENCODINGS", "LayerProfile", "Profile", "profile", "encoded_size_bytes",
           "serialized_size_bytes", "weight_bits", "count_nonzero", "state_tensors", "module_weight"]

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_WEIGHTED = (nn.Linear, *_CONV)


@dataclass(frozen=True)
class Encoding:
    """How weights (tensors with 2+ dims) are stored; everything else stays at its own dtype.

    - dense: ``numel * value_bits / 8`` bytes, rounded up per tensor.
    - ``value_bits < 16`` adds one fp32 scale per output channel (symmetric per-channel quantization).
    - ``sparse=True`` is CSR over ``W.reshape(out, -1)``: per nonzero ``value_bits`` plus a
      column index of ``index_bits`` (16 if the row has at most 65,536 columns, else 32),
      plus ``out + 1`` int32 row pointers.
    """
    name: str
    value_bits: int
    sparse: bool = False

    def __post_init__(self):
        if self.value_bits not in (1, 2, 4, 8, 16, 32):
            raise ValueError(f"Encoding {self.name!r}: value_bits must be 1, 2, 4, 8, 16 or 32, "
                             f"got {self.value_bits}")

    def weight_bytes(self, w: torch.Tensor, nonzero: int) -> int:
        out = w.shape[0]
        cols = w.numel() // max(out, 1)
        scales = 4 * out if self.value_bits < 16 else 0
        if not self.sparse:
            return math.ceil(w.numel() * self.value_bits / 8) + scales
        index_bits = 16 if cols <= 65536 else 32
        return math.ceil(nonzero * (self.value_bits + index_bits) / 8) + 4 * (out + 1) + scales


ENCODINGS: dict[str, Encoding] = {e.name: e for e in (
    Encoding("fp32", 32), Encoding("fp16", 16), Encoding("int8", 8), Encoding("int4", 4),
    Encoding("sparse_fp32", 32, sparse=True), Encoding("sparse_int8", 8, sparse=True),
)}


class _Counts:
    """``flops`` and ``sparsity`` of anything with ``macs``, ``params`` and ``nonzero_params``."""
    macs: int
    params: int
    nonzero_params: int

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def sparsity(self) -> float:
        return 1.0 - self.nonzero_params / self.params if self.params else 0.0


@dataclass
class LayerProfile(_Counts):
    """One module's own share (children excluded). Counts are per inference."""
    name: str
    type: str
    params: int = 0
    nonzero_params: int = 0
    macs: int = 0
    effective_macs: int = 0
    weight_bits: int = 32
    activation_bits: int = 32
    bitops: int = 0
    calls: int = 0


@dataclass
class Profile(_Counts):
    """What :func:`profile` found. Counts per inference; see the module docstring for definitions."""
    params: int
    nonzero_params: int
    size_bytes: int
    encoded_size_bytes: dict[str, int]
    macs: int
    effective_macs: int
    bitops: int
    batch_size: int
    input_shapes: list[tuple[int, ...]]
    layers: list[LayerProfile] = field(default_factory=list)
    counter: str = "torch.utils.flop_counter.FlopCounterMode (+ analytic for quantized layers)"

    def size_under(self, encoding: str = "fp32") -> int:
        """Theoretical bytes under ``encoding`` (a key of :data:`ENCODINGS`)."""
        if encoding not in self.encoded_size_bytes:
            raise KeyError(f"Unknown encoding {encoding!r}; choose one of {sorted(self.encoded_size_bytes)}.")
        return self.encoded_size_bytes[encoding]

    def layer(self, name: str) -> LayerProfile:
        for row in self.layers:
            if row.name == name:
                return row
        raise KeyError(f"No layer {name!r}; layers: {[r.name for r in self.layers]}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(flops=self.flops, sparsity=self.sparsity)
        return d

    def _rows(self):
        for r in self.layers:
            yield (r.name or "(root)", r.type, f"{r.params:,}", f"{r.sparsity:.1%}", f"{r.macs:,}",
                   f"{r.effective_macs:,}", f"{r.weight_bits}x{r.activation_bits}", f"{r.bitops:,}")

    _HEAD = ("layer", "type", "params", "sparsity", "MACs", "effective MACs", "bits w x a", "BitOps")

    def summary(self) -> str:
        return (f"{self.params:,} params ({self.sparsity:.1%} zero), {self.macs:,} MACs "
                f"({self.effective_macs:,} effective), {self.bitops:,} BitOps per inference; "
                f"{self.size_bytes:,} bytes serialized, {self.size_under('fp32'):,} fp32 / "
                f"{self.size_under('int8'):,} int8 / {self.size_under('sparse_fp32'):,} sparse fp32 bytes")

    def __str__(self) -> str:
        rows = [self._HEAD, *self._rows()]
        widths = [max(len(str(r[i])) for r in rows) for i in range(len(self._HEAD))]
        lines = ["  ".join(str(c).rjust(w) if i >= 2 else str(c).ljust(w)
                           for i, (c, w) in enumerate(zip(r, widths, strict=True))) for r in rows]
        return "\n".join([*lines, "", self.summary(), f"MACs counted by {self.counter}."])

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{h}</th>" for h in self._HEAD)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>"
                       for r in self._rows())
        return (f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
                f"<p>{html.escape(self.summary())}. MACs counted by {html.escape(self.counter)}.</p>")


def module_weight(module: nn.Module) -> torch.Tensor | None:
    """The weight tensor a layer computes with (``weight()`` of torch.ao quantized modules), or None."""
    w = getattr(module, "weight", None)
    if callable(w) and not isinstance(w, torch.Tensor):  # torch.ao eager quantized modules
        w = w()
    return w if isinstance(w, torch.Tensor) else None


def _plain(t: torch.Tensor) -> torch.Tensor:
    """A plain dense tensor with the values ``t`` stands for (dequantized if it is quantized)."""
    if type(t) in (torch.Tensor, nn.Parameter) and not t.is_quantized:
        return t.detach()
    if hasattr(t, "dequantize"):
        return t.dequantize().detach()
    return torch.as_tensor(t).detach()


def count_nonzero(t: torch.Tensor) -> int:
    """Nonzero entries of ``t`` (of its dequantized values for quantized tensors)."""
    return int(torch.count_nonzero(_plain(t)))


def weight_bits(t: torch.Tensor) -> int:
    """Storage bits of one weight element: 32 fp32, 16 fp16/bf16, 8 int8 (torchao/torch quantized), 4 int4."""
    name = type(t).__name__.lower()
    if "int4" in name or "uint4" in name:
        return 4
    qdata = getattr(t, "qdata", None)
    if isinstance(qdata, torch.Tensor):
        return 4 if "4" in name else qdata.element_size() * 8
    if t.is_quantized:
        return t.int_repr().element_size() * 8
    return t.element_size() * 8


def _activation_bits(module: nn.Module, w: torch.Tensor | None, input_bits: int) -> int:
    if w is not None and getattr(w, "act_quant_kwargs", None) is not None:
        return 8  # torchao dynamic activation quantization (int8)
    if type(module).__module__.startswith("torch.ao.nn.quantized"):
        return 8
    return input_bits


def serialized_size_bytes(model: nn.Module) -> int:
    """Bytes of the file ``torch.save(model.state_dict(), "model.pt")`` writes.

    (The zip format stores the file's stem in every record name, so the name matters by a few bytes.)
    """
    with tempfile.TemporaryDirectory(prefix="greenkit-size-") as tmp:
        path = os.path.join(tmp, "model.pt")
        torch.save(model.state_dict(), path)
        return os.path.getsize(path)


def encoded_size_bytes(model: nn.Module, encoding: str | Encoding = "fp32") -> int:
    """Theoretical bytes of every parameter and buffer, weights (2+ dims) under ``encoding``."""
    enc = ENCODINGS[encoding] if isinstance(encoding, str) else encoding
    total = 0
    for t in state_tensors(model):
        plain = _plain(t)
        if plain.dim() >= 2:
            total += enc.weight_bytes(plain, int(torch.count_nonzero(plain)) if enc.sparse else 0)
        else:
            total += plain.numel() * (4 if plain.is_floating_point() else plain.element_size())
    return total


def _module_tensors(m: nn.Module) -> list[torch.Tensor]:
    """The tensors module ``m`` itself computes with (not its children's).

    ``torch.nn.utils.prune`` keeps ``weight_orig`` and ``weight_mask`` and computes
    ``weight``; ``torch.nn.utils.parametrize`` keeps ``parametrizations.weight.original``.
    Both count once, as the tensor the layer uses.
    """
    if type(m).__name__ == "ParametrizationList":
        return []  # its module's parametrized attribute is counted instead
    named = dict(m.named_parameters(recurse=False))
    named.update(m.named_buffers(recurse=False))
    derived = {n[:-5] for n in named if n.endswith("_orig")}
    derived |= set(getattr(m, "parametrizations", {}) or {})
    out = [t for n, t in named.items()
           if not (n.endswith("_orig") and n[:-5] in derived) and not (n.endswith("_mask") and n[:-5] in derived)]
    for n in sorted(derived):
        t = getattr(m, n, None)
        if isinstance(t, torch.Tensor):
            out.append(t)
    w = module_weight(m)
    if w is not None and not any(t is w for t in out):
        out.append(w)
    return out


def state_tensors(model: nn.Module) -> list[torch.Tensor]:
    """Every tensor ``model`` computes with (parameters and buffers; pruned/parametrized weights once)."""
    seen: set[int] = set()
    out = []
    for m in model.modules():
        for t in _module_tensors(m):
            if id(t) not in seen:
                seen.add(id(t))
                out.append(t)
    return out


def _is_param(m: nn.Module, t: torch.Tensor) -> bool:
    """Parameters, the weights computed from them (pruned / parametrized / quantized), and buffers of
    2+ dims (a weight matrix kept as a buffer is still a weight; BatchNorm's statistics are 1-D)."""
    return not any(t is b for b in m.buffers(recurse=False)) or t is module_weight(m) or t.dim() >= 2


def _analytic_macs(module: nn.Module, out: torch.Tensor, w: torch.Tensor | None) -> int:
    if w is None or not isinstance(out, torch.Tensor):
        return 0
    if isinstance(module, nn.Linear) or (w.dim() == 2 and "linear" in type(module).__name__.lower()):
        return out.numel() * w.shape[1]
    if isinstance(module, _CONV) or "conv" in type(module).__name__.lower():
        return out.numel() * math.prod(w.shape[1:])  # w: (C_out, C_in/groups, *kernel)
    return 0


def _int_mm_flop(a_shape, b_shape, *args, out_shape=None, **kwargs) -> int:
    """FLOPs of ``aten._int_mm`` (int8 x int8 -> int32 matmul, used by quantized exports), as for mm."""
    m, k = a_shape
    return 2 * m * k * b_shape[1]


# What torch.utils.flop_counter lacks (checked against torch 2.15): integer matmul.
_EXTRA_FLOPS = {torch.ops.aten._int_mm: _int_mm_flop}
_INT8_OPS = {"aten._int_mm"}


@torch.no_grad()
def profile(model: nn.Module, inputs, *, bits: dict[str, tuple[int, int]] | None = None,
            input_bits: int | None = None) -> Profile:
    """Profile ``model`` on ``inputs`` (a tensor or a tuple of positional tensors).

    Args:
        model: any ``nn.Module`` (including ``torch.export`` programs' ``.module()``).
        inputs: one batch; counts are divided by its size (dim 0 of the first tensor).
        bits: optional ``{layer name: (weight_bits, activation_bits)}`` overriding what is
            detected from dtypes (e.g. for fake-quantized layers).
        input_bits: activation bits of float layers (default: the input dtype's bits).

    Returns:
        :class:`Profile`; ``Profile.layers`` holds each module's own share
        (children excluded) for every module that has parameters or counted MACs.
    """
    args = as_args(inputs)
    batch = batch_size(args)
    in_bits = input_bits or (args[0].element_size() * 8 if isinstance(args[0], torch.Tensor)
                             and args[0].is_floating_point() else 32)
    names = {m: n for n, m in model.named_modules()}
    analytic: dict[str, int] = {}
    calls: dict[str, int] = {}

    def hook(module, _inp, out):
        n = names[module]
        calls[n] = calls.get(n, 0) + 1
        analytic[n] = analytic.get(n, 0) + _analytic_macs(module, out, module_weight(module))

    handles = [m.register_forward_hook(hook) for m in names]
    try:
        with eval_mode(model), FlopCounterMode(display=False, custom_mapping=_EXTRA_FLOPS) as counter:
            model(*args)
    finally:
        for h in handles:
            h.remove()

    counts = counter.get_flop_counts()
    root = type(model).__name__

    def counted(name: str) -> dict[str, int]:
        key = root if not name else f"{root}.{name}"
        return {str(op): int(v) for op, v in counts.get(key, {}).items()}

    children = {n: [f"{n}.{c}" if n else c for c, _ in m.named_children()] for n, m in ((names[m], m) for m in names)}
    layers: list[LayerProfile] = []
    bits = bits or {}
    total_macs = total_eff = total_bitops = 0
    for module, name in names.items():
        own = counted(name)
        for c in children[name]:
            for op, v in counted(c).items():
                own[op] = own.get(op, 0) - v
        own_flops = sum(own.values())
        int8_macs = sum(v for op, v in own.items() if op in _INT8_OPS) // 2
        w = module_weight(module)
        tensors = [t for t in _module_tensors(module) if _is_param(module, t)]
        macs = own_flops // 2
        if macs == 0 and analytic.get(name):
            macs = analytic[name]  # the counter could not see this op (e.g. a torchao quantized weight)
        n_params = sum(t.numel() for t in tensors)
        if not n_params and not macs:
            continue
        nnz = sum(count_nonzero(t) for t in tensors)
        effective = macs
        if w is not None and isinstance(module, _WEIGHTED) or (w is not None and analytic.get(name)):
            effective = round(macs * count_nonzero(w) / w.numel()) if w.numel() else 0
        wb = weight_bits(w) if w is not None else in_bits
        ab = _activation_bits(module, w, in_bits)
        wb, ab = bits.get(name, (wb, ab))
        layer_bitops = (macs - int8_macs) * wb * ab + int8_macs * 8 * 8
        row = LayerProfile(name=name, type=type(module).__name__, params=n_params, nonzero_params=nnz,
                           macs=macs // batch, effective_macs=effective // batch, weight_bits=wb,
                           activation_bits=ab, bitops=layer_bitops // batch, calls=calls.get(name, 0))
        layers.append(row)
        total_macs += macs
        total_eff += effective
        total_bitops += layer_bitops

    params, seen = [], set()
    for m in names:
        for t in _module_tensors(m):
            if id(t) not in seen and _is_param(m, t):
                seen.add(id(t))
                params.append(t)
    n_params = sum(t.numel() for t in params)
    return Profile(
        params=n_params,
        nonzero_params=sum(count_nonzero(t) for t in params),
        size_bytes=serialized_size_bytes(model),
        encoded_size_bytes={k: encoded_size_bytes(model, e) for k, e in ENCODINGS.items()},
        macs=total_macs // batch,
        effective_macs=total_eff // batch,
        bitops=total_bitops // batch,
        batch_size=batch,
        input_shapes=[tuple(a.shape) for a in args if isinstance(a, torch.Tensor)],
        layers=layers,
    )
