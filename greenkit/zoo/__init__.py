"""The labs' baseline architectures and their shipped, verified checkpoints.

>>> import greenkit as gk
>>> teacher = gk.zoo.load("cnn")          # eval mode, checksum verified, no download
>>> gk.zoo.build("cnn", channels=(16, 32, 64))   # same family, other widths (e.g. pruned)

Each checkpoint ``datasets/checkpoints/NAME.pt`` (a ``state_dict``) has a
``NAME.json`` beside it: architecture and its arguments, seed, epochs, test
accuracy, torch version, training time, and the SHA-256 of the ``.pt`` file.
Re-make one with ``python -m greenkit.zoo train NAME`` (writes both files).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from greenkit.paths import DataFileError, find_data_file

__all__ = ["FashionCNN", "FashionMLP", "build", "load", "info", "names", "train", "ARCHITECTURES",
           "SpikingMLP", "LIF", "FastSigmoidSpike", "latency_encode", "spiking_mlp_from_state"]


class FashionCNN(nn.Module):
    """Three conv blocks and two linear layers for 1x28x28 images.

    Shapes: ``(N, 1, 28, 28)`` -> conv(c1) -> conv(c2) -> pool -> ``(N, c2, 14, 14)``
    -> conv(c3) -> pool -> ``(N, c3, 7, 7)`` -> flatten ``(N, 49*c3)`` -> ``hidden`` -> ``(N, 10)``.
    Each conv is 3x3, padding 1, followed by BatchNorm and ReLU, so channel
    pruning must fix the BatchNorm and the next layer's input (the lab does).
    """

    def __init__(self, channels: tuple[int, int, int] = (32, 64, 128), hidden: int = 128,
                 num_classes: int = 10, dropout: float = 0.3):
        super().__init__()
        c1, c2, c3 = (int(c) for c in channels)
        self.channels, self.hidden = (c1, c2, c3), int(hidden)
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1, bias=False), nn.BatchNorm2d(c1), nn.ReLU(inplace=True),
            nn.Conv2d(c1, c2, 3, padding=1, bias=False), nn.BatchNorm2d(c2), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(c2, c3, 3, padding=1, bias=False), nn.BatchNorm2d(c3), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c3 * 7 * 7, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class FashionMLP(nn.Module):
    """A multilayer perceptron: flatten 784 -> hidden... -> 10, ReLU between."""

    def __init__(self, hidden: tuple[int, ...] = (512, 256), num_classes: int = 10,
                 dropout: float = 0.2):
        super().__init__()
        self.hidden = tuple(int(h) for h in hidden)
        layers: list[nn.Module] = [nn.Flatten()]
        width = 28 * 28
        for h in self.hidden:
            layers += [nn.Linear(width, h), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class FastSigmoidSpike(torch.autograd.Function):
    """Heaviside spike with the fast-sigmoid surrogate gradient (Zenke & Ganguli 2018).

    Forward: ``S = H(x)`` = 1 where ``x > 0``, else 0 (``x`` = membrane minus threshold).
    Backward: ``dS/dx ~ 1 / (1 + SLOPE * |x|)**2``.
    """

    SLOPE = 25.0

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return grad_output / (1.0 + FastSigmoidSpike.SLOPE * x.abs()) ** 2


def latency_encode(images: torch.Tensor, num_steps: int) -> torch.Tensor:
    """Time-to-first-spike code: a pixel of intensity x in [0, 1] fires once, at step
    ``round((1 - x) * (num_steps - 1))`` (bright pixels first); a pixel with x == 0 never fires.

    ``(N, ...)`` in [0, 1] -> ``(num_steps, N, ...)`` of 0.0/1.0, same dtype.
    """
    steps = torch.round((1 - images) * (num_steps - 1)).long().clamp(0, num_steps - 1)
    t = torch.arange(num_steps, device=images.device).view(-1, *([1] * images.dim()))
    return ((t == steps.unsqueeze(0)) & (images > 0).unsqueeze(0)).to(images.dtype)


class LIF(nn.Module):
    """Leaky integrate-and-fire neurons run over a whole input train, reset by subtraction.

    For each step t: ``v = beta * v + I[t]``; ``S[t] = H(v - threshold)``;
    ``v = v - threshold * S[t]``, with ``v = 0`` before step 0.
    ``(T, N, F)`` input currents -> ``(T, N, F)`` spikes. Spikes use :class:`FastSigmoidSpike`
    in training (surrogate gradient), a plain comparison otherwise.
    """

    is_spiking_neuron = True  # counted by greenkit.metrics.synops for spike rates

    def __init__(self, beta: float = 0.9, threshold: float = 1.0):
        super().__init__()
        self.beta, self.threshold = float(beta), float(threshold)

    def forward(self, currents: torch.Tensor) -> torch.Tensor:
        v = torch.zeros_like(currents[0])
        spikes = []
        for t in range(currents.shape[0]):
            v = self.beta * v + currents[t]
            if self.training:
                s = FastSigmoidSpike.apply(v - self.threshold)
            else:
                s = (v > self.threshold).to(v.dtype)
            v = v - self.threshold * s
            spikes.append(s)
        return torch.stack(spikes)  # (T, N, F)


class SpikingMLP(nn.Module):
    """A fully connected spiking network for Fashion-MNIST (lab05_snn).

    ``(N, 1, 28, 28)`` normalised images -> pixels in [0, 1] -> latency code ``(T, N, 784)``
    -> [Linear -> LIF] per hidden width -> Linear -> leaky non-spiking readout
    ``u[t] = beta * u[t-1] + W s[t] + b`` -> logits = mean over t of ``u[t]``, ``(N, 10)``.
    Each Linear runs once on all T steps (one matrix product); only the neurons loop over time.
    The matching ANN is ``FashionMLP(hidden)`` (same weights' shapes, ReLU instead of LIF).
    """

    def __init__(self, hidden: tuple[int, ...] = (256,), num_steps: int = 25, beta: float = 0.9,
                 threshold: float = 1.0, num_classes: int = 10):
        super().__init__()
        self.hidden, self.num_steps = tuple(int(h) for h in hidden), int(num_steps)
        self.beta, self.threshold = float(beta), float(threshold)
        # saved with the weights, so a checker can rebuild the network from its state dict alone
        self.register_buffer("num_steps_", torch.tensor(self.num_steps))
        self.register_buffer("beta_", torch.tensor(self.beta))
        self.register_buffer("threshold_", torch.tensor(self.threshold))
        widths = [28 * 28, *self.hidden]
        self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:], strict=False))
        self.lifs = nn.ModuleList(LIF(beta, threshold) for _ in self.hidden)
        self.readout = nn.Linear(widths[-1], num_classes)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        from greenkit.data import MEAN, STD
        # back to the 8-bit pixel grid k/255, so a black pixel is exactly 0 and never fires
        pixels = ((x * STD + MEAN) * 255).round().clamp(0, 255).flatten(1) / 255   # (N, 784)
        return latency_encode(pixels, self.num_steps)             # (T, N, 784)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.encode(x)
        for fc, lif in zip(self.fcs, self.lifs, strict=True):
            s = lif(fc(s))                                          # (T, N, hidden)
        cur = self.readout(s)                                       # (T, N, 10)
        u = torch.zeros_like(cur[0])
        total = torch.zeros_like(cur[0])
        for t in range(cur.shape[0]):
            u = self.beta * u + cur[t]
            total = total + u
        return total / cur.shape[0]                                 # (N, 10)


@dataclass(frozen=True)
class Recipe:
    """How a shipped checkpoint is made: architecture, its kwargs, training."""
    arch: Callable[..., nn.Module]
    kwargs: dict = field(default_factory=dict)
    epochs: int = 10
    lr: float = 1e-3
    batch_size: int = 128
    seed: int = 0
    description: str = ""


ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {"FashionCNN": FashionCNN, "FashionMLP": FashionMLP}
ARCHITECTURES["SpikingMLP"] = SpikingMLP  # lab05_snn

RECIPES: dict[str, Recipe] = {
    "cnn": Recipe(FashionCNN, {"channels": (32, 64, 128), "hidden": 128}, epochs=5,
                  description="Teacher CNN (~0.9 M params), baseline for pruning and distillation."),
    "mlp": Recipe(FashionMLP, {"hidden": (512, 256)}, epochs=10,
                  description="Linear-heavy MLP (~0.5 M params), baseline for quantization."),
}


def names() -> list[str]:
    """Names of the shipped baselines."""
    return sorted(RECIPES)


def _recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise KeyError(f"Unknown zoo model {name!r}; choose one of {names()}.")
    return RECIPES[name]


def build(name: str, **overrides) -> nn.Module:
    """A fresh (untrained) model of baseline ``name``; kwargs override its widths."""
    recipe = _recipe(name)
    return recipe.arch(**{**recipe.kwargs, **overrides})


def _checkpoint_paths(name: str) -> tuple[Path, Path]:
    hint = (f"restore it with `git checkout -- datasets/checkpoints` or re-make it with "
            f"`python -m greenkit.zoo train {name}`.")
    pt = find_data_file(f"checkpoints/{name}.pt", f"checkpoint '{name}.pt' is missing: {hint}")
    meta = pt.with_suffix(".json")
    if not meta.is_file():
        raise DataFileError(f"Checkpoint metadata {meta} is missing: {hint}")
    return pt, meta


def info(name: str) -> dict:
    """The JSON record of how checkpoint ``name`` was made."""
    _, meta = _checkpoint_paths(name)
    return json.loads(meta.read_text())


def load(name: str, device: str | torch.device = "cpu") -> nn.Module:
    """The shipped, trained baseline ``name`` in eval mode, checksum verified."""
    from greenkit.data import sha256_file

    pt, meta_path = _checkpoint_paths(name)
    meta = json.loads(meta_path.read_text())
    digest = sha256_file(pt)
    if digest != meta["sha256"]:
        raise DataFileError(
            f"Checkpoint {pt} is corrupt (SHA-256 {digest[:16]}... expected {meta['sha256'][:16]}...). "
            f"Fix: `git checkout -- datasets/checkpoints` or `python -m greenkit.zoo train {name}`."
        )
    model = build(name)
    state = torch.load(pt, map_location=device, weights_only=True)
    model.load_state_dict(state)
    return model.to(device).eval()


def train(name: str, epochs: int | None = None, seed: int | None = None,
          out_dir: Path | None = None, log: Callable[[str], None] = print) -> dict:
    """Train baseline ``name`` on the full training set and write NAME.pt/.json.

    Deterministic for a given seed, torch version and thread count.
    Returns the metadata written.
    """
    from greenkit.data import load as load_data
    from greenkit.data import sha256_file
    from greenkit.metrics import accuracy

    recipe = _recipe(name)
    epochs = recipe.epochs if epochs is None else epochs
    seed = recipe.seed if seed is None else seed
    torch.manual_seed(seed)
    model = build(name)
    x, y = load_data("train")
    opt = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=recipe.lr * 3, total_steps=epochs * ((len(x) + recipe.batch_size - 1) // recipe.batch_size))
    gen = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), recipe.batch_size):
            idx = perm[i:i + recipe.batch_size]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        acc = accuracy(model, "test")
        log(f"[{name}] epoch {epoch + 1}/{epochs}: loss {loss.item():.3f}, test accuracy {acc:.4f}, "
            f"{time.perf_counter() - t0:.0f} s")
    train_s = time.perf_counter() - t0
    model.eval()
    out_dir = Path(out_dir) if out_dir else Path(__file__).resolve().parents[2] / "datasets" / "checkpoints"
    out_dir.mkdir(parents=True, exist_ok=True)
    pt = out_dir / f"{name}.pt"
    torch.save(model.state_dict(), pt)
    meta = {
        "name": name,
        "arch": recipe.arch.__name__,
        "kwargs": {k: list(v) if isinstance(v, tuple) else v for k, v in recipe.kwargs.items()},
        "description": recipe.description,
        "params": sum(p.numel() for p in model.parameters()),
        "seed": seed,
        "epochs": epochs,
        "optimizer": f"Adam + OneCycleLR(max_lr={recipe.lr * 3})",
        "batch_size": recipe.batch_size,
        "test_accuracy": round(accuracy(model, "test"), 4),
        "train_seconds": round(train_s, 1),
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "sha256": sha256_file(pt),
        "made_by": f"python -m greenkit.zoo train {name} --epochs {epochs} --seed {seed}",
    }
    pt.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    log(json.dumps(meta, indent=2))
    return meta


# ---- lab05_snn: quantities the checker computes on a submitted SpikingMLP ------------------
# (used by greenkit/targets/specs/lab05_snn.toml through the ``scalar`` target kind)

def spiking_mlp_from_state(state: dict[str, torch.Tensor]) -> SpikingMLP:
    """Rebuild a :class:`SpikingMLP` from a state dict (widths from tensor shapes, ``num_steps``,
    ``beta`` and ``threshold`` from its buffers), in eval mode."""
    n_hidden = sum(1 for k in state if k.startswith("fcs.") and k.endswith(".weight"))
    hidden = [int(state[f"fcs.{i}.weight"].shape[0]) for i in range(n_hidden)]
    model = SpikingMLP(hidden=tuple(hidden), num_steps=int(state["num_steps_"]), beta=float(state["beta_"]),
                       threshold=float(state["threshold_"]),
                       num_classes=int(state["readout.weight"].shape[0]))
    model.load_state_dict({k: v.detach().cpu() for k, v in state.items()}, strict=True)
    return model.eval()


@torch.no_grad()
def _rebuilt_snn(model: nn.Module, ctx) -> tuple[SpikingMLP, torch.Tensor]:
    """The submitted model as a SpikingMLP, checked to compute the same logits on test images."""
    def run():
        rebuilt = spiking_mlp_from_state(dict(model.state_dict()))
        x = ctx.test_data()[0][:500]
        if not torch.allclose(rebuilt(x), model(x), atol=1e-4, rtol=1e-4):
            raise ValueError("the submitted model does not compute what a SpikingMLP with its weights "
                             "computes; submit the gk.zoo.SpikingMLP you trained")
        return rebuilt, x
    return ctx._cached(("snn", id(model)), run)


def snn_num_steps(model: nn.Module, ctx) -> float:
    """Simulation time steps T of a submitted SpikingMLP."""
    return float(_rebuilt_snn(model, ctx)[0].num_steps)


def snn_hidden_spike_rate(model: nn.Module, ctx) -> float:
    """Mean spike rate of the hidden LIF neurons (spikes per neuron per step) on test images."""
    from greenkit.metrics import synops
    rebuilt, x = _rebuilt_snn(model, ctx)
    ops = ctx._cached(("synops", id(model)), lambda: synops(rebuilt, x))
    return float(1.0 - ops.activation_sparsity)  # mean spike rate over the LIF layers


def snn_energy_ratio(model: nn.Module, ctx) -> float:
    """Estimated synaptic energy of a SpikingMLP over the MAC energy of the matching ANN,
    both from Horowitz (ISSCC 2014) 45 nm fp32: AC = fp32 add, MAC = fp32 multiply + add.

    SNN: SynOps counted on test images (``greenkit.metrics.synops``); ANN: MACs of
    ``FashionMLP(hidden)`` (``greenkit.metrics.profile``). Compute only (no memory traffic).
    """
    from greenkit.metrics import HOROWITZ_2014_PJ as pj
    from greenkit.metrics import profile, synops
    rebuilt, x = _rebuilt_snn(model, ctx)
    ops = ctx._cached(("synops", id(model)), lambda: synops(rebuilt, x))
    e_mac = pj["fp32_mult"] + pj["fp32_add"]
    ann_macs = profile(FashionMLP(hidden=rebuilt.hidden, num_classes=rebuilt.readout.out_features), x[:1]).macs
    return (ops.acs * pj["fp32_add"] + ops.macs * e_mac) / (ann_macs * e_mac)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m greenkit.zoo", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train a baseline and write its checkpoint")
    t.add_argument("name", choices=names())
    t.add_argument("--epochs", type=int)
    t.add_argument("--seed", type=int)
    t.add_argument("--out-dir", type=Path)
    t.add_argument("--threads", type=int, help="torch CPU threads (recorded in the JSON)")
    sub.add_parser("list", help="list the shipped baselines and their accuracy")
    args = parser.parse_args(argv)
    if args.cmd == "train":
        if args.threads:
            torch.set_num_threads(args.threads)
        train(args.name, epochs=args.epochs, seed=args.seed, out_dir=args.out_dir)
    else:
        for n in names():
            try:
                m = info(n)
                print(f"{n:6s} {m['arch']:11s} {m['params']:>9,d} params  test acc {m['test_accuracy']:.4f}")
            except DataFileError as err:
                print(f"{n:6s} (no checkpoint: {err})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
