"""Functions named by 'scalar' targets in the tests."""

from torch import nn


def n_weights(model: nn.Module, ctx) -> int:
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))


class AlwaysEqual:
    def __eq__(self, other):
        return True

    def __le__(self, other):
        return True

    def __ge__(self, other):
        return True


def always_equal(model, ctx):
    return AlwaysEqual()
