"""The architecture registry: name -> class, filled by the :func:`architecture` decorator.

Every registered class rebuilds itself from a state dict alone::

    @architecture("FashionMLP")
    class FashionMLP(nn.Module):
        @classmethod
        def from_state_dict(cls, state: dict[str, torch.Tensor]) -> FashionMLP:
            ...  # sizes from tensor shapes (and saved buffers); eval mode; ValueError if it does not fit

so a checker can load a submitted state dict knowing only the architecture's name (nothing
else the student wrote is read). A new architecture module decorates its class and is
imported in ``greenkit/zoo/__init__.py`` (one line).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ARCHITECTURES", "architecture", "architecture_of", "load_state_strict", "shape"]

ARCHITECTURES: dict[str, type[nn.Module]] = {}


def architecture(name: str | None = None):
    """Class decorator: register an ``nn.Module`` with a ``from_state_dict`` classmethod under ``name``."""
    def register(cls: type[nn.Module]) -> type[nn.Module]:
        key = name or cls.__name__
        if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
            raise TypeError(f"architecture {key!r} must be an nn.Module class")
        if not callable(getattr(cls, "from_state_dict", None)):
            raise TypeError(f"architecture {key!r} needs a from_state_dict(state) classmethod")
        if ARCHITECTURES.get(key, cls) is not cls:
            raise ValueError(f"architecture {key!r} is registered twice")
        ARCHITECTURES[key] = cls
        return cls
    return register


def architecture_of(model: nn.Module) -> str | None:
    """The registered name of ``type(model)`` exactly (a subclass is not its parent), or None."""
    return next((n for n, cls in ARCHITECTURES.items() if type(model) is cls), None)


def load_state_strict(model: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    """``model.load_state_dict(state, strict=True)`` in eval mode; ValueError naming the misfit."""
    try:
        model.load_state_dict({k: v.detach().cpu() for k, v in state.items()}, strict=True)
    except (RuntimeError, AttributeError) as err:
        raise ValueError(f"the state dict does not fit {type(model).__name__}: {str(err)[:400]}") from err
    return model.eval()


def shape(state: dict[str, torch.Tensor], key: str, dims: int) -> tuple[int, ...]:
    """The shape of ``state[key]``, which must be a tensor with ``dims`` dimensions (ValueError otherwise)."""
    t = state.get(key)
    if type(t) not in (torch.Tensor, nn.Parameter) or t.dim() != dims:
        raise ValueError(f"state dict: {key!r} must be a {dims}-D tensor, got "
                         f"{type(t).__name__}{tuple(t.shape) if isinstance(t, torch.Tensor) else ''}")
    return tuple(int(n) for n in t.shape)
