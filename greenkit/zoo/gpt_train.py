"""Train the shipped GPT checkpoints on the Chinese text corpus: ``python -m greenkit.zoo train gpt``.

Random windows of ``context + 1`` tokens from the training text, AdamW, linear warm-up then
cosine decay, a fixed number of steps (deterministic for a seed, torch version and thread
count). Writes ``NAME.pt`` (state dict) and ``NAME.json`` (how it was made, validation
perplexity, a greedy and a sampled text, SHA-256).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.nn import functional as F

from greenkit.zoo.checkpoints import recipe as get_recipe
from greenkit.zoo.gpt import GPT, perplexity

__all__ = ["train_gpt", "sample", "SAMPLE_PROMPT", "main"]

SAMPLE_PROMPT = "《静夜思》\n作者：李白\n"


@torch.no_grad()
def sample(model: GPT, prompt: str, new_tokens: int = 60, temperature: float = 0.0, seed: int = 0) -> str:
    """Continue ``prompt`` by full recomputation (greedy when ``temperature == 0``)."""
    from greenkit.data import tokenizer
    tok = tokenizer()
    ids = torch.tensor([tok.encode(prompt)])
    gen = torch.Generator().manual_seed(seed)
    for _ in range(new_tokens):
        logits = model(ids[:, -model.context:])[0, -1]
        if temperature <= 0:
            nxt = logits.argmax()
        else:
            nxt = torch.multinomial(F.softmax(logits / temperature, dim=-1), 1, generator=gen)[0]
        ids = torch.cat([ids, nxt.view(1, 1)], dim=1)
    return tok.decode(ids[0].tolist())


def train_gpt(name: str, steps: int | None = None, seed: int | None = None, out_dir: Path | None = None,
              log: Callable[[str], None] = print) -> dict:
    """Train GPT checkpoint ``name`` and write NAME.pt/.json; returns the metadata."""
    from greenkit.data import load_tokens, tokenizer
    from greenkit.tensors import sha256_file

    recipe = get_recipe(name)
    if recipe.arch is not GPT:
        raise ValueError(f"{name!r} is not a GPT checkpoint")
    steps = recipe.epochs if steps is None else int(steps)
    seed = recipe.seed if seed is None else int(seed)
    torch.manual_seed(seed)
    tok = tokenizer()
    if tok.vocab_size != recipe.kwargs["vocab_size"]:
        raise ValueError(f"the tokenizer has {tok.vocab_size} ids, the recipe {recipe.kwargs['vocab_size']}")
    model = GPT(**recipe.kwargs)
    train_ids, val_ids = load_tokens("train"), load_tokens("val")
    T, B = model.context, recipe.batch_size
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, betas=(0.9, 0.99), weight_decay=0.1)
    warmup = max(1, steps // 20)

    def lr_at(step: int) -> float:
        if step < warmup:
            return recipe.lr * (step + 1) / warmup
        return recipe.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup))))

    gen = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    model.train()
    for step in range(steps):
        starts = torch.randint(0, len(train_ids) - T - 1, (B,), generator=gen)
        xy = torch.stack([train_ids[s:s + T + 1] for s in starts.tolist()])       # (B, T+1)
        logits = model(xy[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), xy[:, 1:].reshape(-1))
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 100 == 0 or step == steps - 1:
            log(f"[{name}] step {step + 1}/{steps}: loss {loss.item():.3f}, {time.perf_counter() - t0:.0f} s")
    train_s = time.perf_counter() - t0
    model.eval()
    val_ppl = perplexity(model, val_ids)
    out_dir = Path(out_dir) if out_dir else Path(__file__).resolve().parents[2] / "datasets" / "checkpoints"
    out_dir.mkdir(parents=True, exist_ok=True)
    pt = out_dir / f"{name}.pt"
    torch.save(model.state_dict(), pt)
    meta = {
        "name": name,
        "arch": "GPT",
        "kwargs": model.config(),
        "description": recipe.description,
        "params": sum(p.numel() for p in model.parameters()),
        "seed": seed,
        "steps": steps,
        "batch_size": B,
        "tokens_seen": steps * B * T,
        "optimizer": f"AdamW(lr={recipe.lr}, betas=(0.9, 0.99), weight_decay=0.1), warm-up {warmup} steps, "
                     f"cosine to 0.1 lr, grad-norm clip 1.0",
        "final_train_loss": round(loss.item(), 4),
        "val_perplexity": round(val_ppl, 3),
        "val_loss": round(math.log(val_ppl), 4),
        "tokenizer": f"greenkit.data.tokenizer(): characters, {tok.vocab_size} ids",
        "sample_greedy": sample(model, SAMPLE_PROMPT, 60),
        "sample_t0.8": sample(model, SAMPLE_PROMPT, 60, temperature=0.8, seed=seed),
        "train_seconds": round(train_s, 1),
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "sha256": sha256_file(pt),
        "made_by": f"nice python -m greenkit.zoo.gpt_train {name} --steps {steps} --seed {seed} "
                   f"--threads {torch.get_num_threads()}",
    }
    pt.with_suffix(".json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    log(json.dumps(meta, indent=2, ensure_ascii=False))
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m greenkit.zoo.gpt_train", description="train a GPT checkpoint")
    parser.add_argument("name", choices=["gpt", "gpt-small"])
    parser.add_argument("--steps", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--out-dir", type=Path)
    parser.add_argument("--threads", type=int, help="torch CPU threads (recorded in the JSON)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    train_gpt(args.name, steps=args.steps, seed=args.seed, out_dir=args.out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
