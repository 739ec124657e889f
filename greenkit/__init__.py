"""GreenKit: measure, profile and check the energy of machine-learning code.

Subpackages and modules:

- ``greenkit.data``     offline Fashion-MNIST, verified and cached
- ``greenkit.zoo``      the labs' baseline models and shipped checkpoints
- ``greenkit.metrics``  accuracy and model profiles
"""

import logging

from greenkit import data, metrics, zoo

__all__ = ["data", "metrics", "zoo"]
__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
