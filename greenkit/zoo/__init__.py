"""The labs' architectures and their shipped, verified checkpoints (no training, no metrics here).

>>> import greenkit as gk
>>> teacher = gk.zoo.load("cnn")          # eval mode, checksum verified, no download
>>> gk.zoo.build("cnn", channels=(16, 32, 64))   # same family, other widths (e.g. pruned)
>>> gk.zoo.FashionCNN.from_state_dict(teacher.state_dict())   # every architecture rebuilds itself

- ``greenkit.zoo.registry``     :data:`ARCHITECTURES` (name -> class) and the ``@architecture`` decorator
- ``greenkit.zoo.vision``       :class:`FashionCNN`, :class:`FashionMLP`
- ``greenkit.zoo.spiking``      :class:`SpikingMLP`, :class:`LIF`, latency coding (lab05_snn)
- ``greenkit.zoo.checkpoints``  recipes of the shipped baselines; :func:`build`, :func:`load`, :func:`info`
- ``greenkit.zoo.training``     re-making a checkpoint: ``python -m greenkit.zoo train NAME``

A new architecture: a module in this package whose class is decorated with
``@architecture("Name")`` and has a ``from_state_dict`` classmethod, imported below (one line).
"""

from __future__ import annotations

# Architecture modules register their classes when imported; one line per module.
from greenkit.zoo import gpt, spiking, vision  # noqa: F401
from greenkit.zoo.checkpoints import RECIPES, Recipe, build, info, load, names
from greenkit.zoo.registry import ARCHITECTURES, architecture, architecture_of
from greenkit.zoo.spiking import LIF, FastSigmoidSpike, SpikingMLP, latency_encode
from greenkit.zoo.vision import FashionCNN, FashionMLP

__all__ = ["FashionCNN", "FashionMLP", "SpikingMLP", "LIF", "FastSigmoidSpike", "latency_encode",
           "ARCHITECTURES", "architecture", "architecture_of", "RECIPES", "Recipe", "build", "load", "info",
           "names", "train", "main"]


def train(*args, **kwargs) -> dict:
    """:func:`greenkit.zoo.training.train` (imported on use: training is not needed to load a model)."""
    from greenkit.zoo.training import train as _train
    return _train(*args, **kwargs)


def main(argv: list[str] | None = None) -> int:
    """``python -m greenkit.zoo train NAME | list`` (an alias of ``greenkit zoo ...``)."""
    from greenkit.zoo.training import main as _main
    return _main(argv)
