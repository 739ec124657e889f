"""Offline data: Fashion-MNIST images and a Chinese text corpus; verified, cached, no network.

>>> import greenkit as gk
>>> x, y = gk.data.load("test", n_per_class=10)   # first 10 images of each class
>>> x.shape, x.dtype, y.shape                      # (100, 1, 28, 28) float32, (100,) int64

Images are normalised with the training set's mean and standard deviation
(``MEAN``, ``STD``): ``x = (pixel / 255 - MEAN) / STD``.

The four IDX files are checked against ``SHA256SUMS`` the first time they are
decoded; the decoded ``uint8`` arrays are cached as ``.npy`` files (see
:func:`greenkit.paths.cache_dir`) keyed by checksum, so a later load in any
process memory-maps them in well under a second.
"""

from __future__ import annotations

import functools
import gzip
import logging
from pathlib import Path

import numpy as np
import torch

from greenkit.paths import DataFileError, cache_dir, find_data_file
from greenkit.tensors import sha256_file

__all__ = ["load", "loader", "CLASSES", "MEAN", "STD", "verify", "DataFileError",
           "load_text", "load_tokens", "tokenizer", "CharTokenizer", "TEXT_SHA256"]

log = logging.getLogger(__name__)

CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
MEAN = 0.2860
STD = 0.3530

_FILES = {
    ("train", "images"): "train-images-idx3-ubyte.gz",
    ("train", "labels"): "train-labels-idx1-ubyte.gz",
    ("test", "images"): "t10k-images-idx3-ubyte.gz",
    ("test", "labels"): "t10k-labels-idx1-ubyte.gz",
}
# Checksums of the official files (identical to Debian's dataset-fashion-mnist).
SHA256 = {
    "train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    "train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    "t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    "t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
}

RESTORE_HINT = (
    "restore it with `git checkout -- datasets/fashion-mnist` in your GreenKit clone, "
    "or install Debian's package (`sudo apt-get install dataset-fashion-mnist`, files in "
    "/usr/share/datasets/fashion-mnist), or on a machine with internet run "
    "`torchvision.datasets.FashionMNIST(root, download=True)` and copy "
    "root/FashionMNIST/raw/*.gz into datasets/fashion-mnist/."
)


def _locate(name: str) -> Path:
    return find_data_file(f"fashion-mnist/{name}", f"'{name}' is missing: {RESTORE_HINT}")


def verify() -> dict[str, Path]:
    """Check all four files against their checksums; return their paths.

    Raises :class:`DataFileError` naming the first missing or corrupt file.
    """
    return {name: _verified(name) for name in SHA256}


def clear_cache() -> None:
    """Forget the in-process tensors (the on-disk cache stays)."""
    _tensors.cache_clear()
    _raw_array.cache_clear()


def _verified(name: str) -> Path:
    path = _locate(name)
    digest = sha256_file(path)
    if digest != SHA256[name]:
        raise DataFileError(
            f"Fashion-MNIST file {path} is corrupt: SHA-256 {digest[:16]}... "
            f"expected {SHA256[name][:16]}.... Fix: {RESTORE_HINT}"
        )
    return path


def _decode_idx(raw: bytes, name: str) -> np.ndarray:
    """Decode an IDX file (big-endian header: magic, dims; then uint8 data)."""
    if len(raw) < 8 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataFileError(f"{name} is not an IDX uint8 file. Fix: {RESTORE_HINT}")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    data = np.frombuffer(raw, dtype=np.uint8, offset=offset)
    if data.size != int(np.prod(dims)):
        raise DataFileError(f"{name} is truncated. Fix: {RESTORE_HINT}")
    return data.reshape(dims)


@functools.cache
def _raw_array(split: str, kind: str) -> np.ndarray:
    """Decoded uint8 array for one file, via the on-disk cache."""
    name = _FILES[(split, kind)]
    cached = cache_dir() / f"{name[:-3]}-{SHA256[name][:16]}.npy"
    if cached.is_file():
        try:
            return np.load(cached, mmap_mode="r")
        except (OSError, ValueError):
            log.warning("Cache file %s unreadable; decoding again.", cached)
    path = _verified(name)
    with gzip.open(path, "rb") as f:
        array = _decode_idx(f.read(), name)
    tmp = cached.with_suffix(".tmp.npy")
    try:
        np.save(tmp, array)
        tmp.replace(cached)
    except OSError as err:  # cache is an optimisation only; say so and go on
        log.warning("Could not write cache %s (%s); loads will decode each time.", cached, err)
    return array


def _subset_indices(labels: np.ndarray, n_per_class: int) -> np.ndarray:
    """Indices of the first ``n_per_class`` examples of each class, in file order."""
    picks = [np.flatnonzero(labels == c)[:n_per_class] for c in range(len(CLASSES))]
    return np.sort(np.concatenate(picks))


def load(split: str = "train", n_per_class: int | None = None, normalize: bool = True
         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Load a split as in-memory tensors.

    Args:
        split: ``"train"`` (60,000 images) or ``"test"`` (10,000).
        n_per_class: if given, keep only the first N images of each class
            (deterministic; file order kept).
        normalize: standardise with ``MEAN``/``STD``; else floats in [0, 1].

    Returns:
        ``images`` float32 ``(N, 1, 28, 28)`` and ``labels`` int64 ``(N,)``.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if n_per_class is not None and n_per_class <= 0:
        raise ValueError(f"n_per_class must be a positive integer, got {n_per_class}")
    x, y = _tensors(split, n_per_class, normalize)
    return x.clone(), y.clone()  # callers may modify their copy; the cache stays intact


@functools.lru_cache(maxsize=8)
def _tensors(split: str, n_per_class: int | None, normalize: bool) -> tuple[torch.Tensor, torch.Tensor]:
    images = _raw_array(split, "images")
    labels = _raw_array(split, "labels")
    if n_per_class is not None:
        idx = _subset_indices(np.asarray(labels), n_per_class)
        images, labels = images[idx], labels[idx]
    x = torch.from_numpy(np.array(images, dtype=np.uint8)).unsqueeze(1).to(torch.float32)  # (N,1,28,28)
    if normalize:
        x.mul_(1.0 / (255.0 * STD)).sub_(MEAN / STD)  # (pixel/255 - MEAN) / STD
    else:
        x.div_(255.0)
    y = torch.from_numpy(np.array(labels, dtype=np.int64))
    return x, y


def loader(split: str = "train", batch_size: int = 128, shuffle: bool | None = None,
           n_per_class: int | None = None, seed: int = 0) -> torch.utils.data.DataLoader:
    """A ``DataLoader`` over :func:`load` (shuffled for train by default, seeded)."""
    x, y = load(split, n_per_class=n_per_class)
    shuffle = (split == "train") if shuffle is None else shuffle
    gen = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle, generator=gen
    )


# ---- Text: Tang and Song poems and Chinese sayings (lab06_language_models) ------------------
# datasets/text/fortunes-zh.txt: Debian's fortunes-zh 2.98 (GPL-3+), terminal colour codes removed,
# records that are not mostly Chinese characters dropped (see datasets/text/README.md).
# Records are separated by a blank line; every 20th record (index 19, 39, ...) is held out.

TEXT_FILE = "fortunes-zh.txt"
TEXT_SHA256 = "12445ec643fbad5e6a68fab091a6daa577632911f0fe96c60185e246a3c8b192"
TEXT_HINT = ("restore it with `git checkout -- datasets/text` in your GreenKit clone, or rebuild it from "
             "Debian's package (`sudo apt-get install fortunes-zh`) as datasets/text/README.md says.")
UNK = "\ufffd"   # the replacement character stands for every character outside the vocabulary


@functools.cache
def _corpus_records() -> tuple[str, ...]:
    path = find_data_file(f"text/{TEXT_FILE}", f"'{TEXT_FILE}' is missing: {TEXT_HINT}")
    digest = sha256_file(path)
    if digest != TEXT_SHA256:
        raise DataFileError(f"text corpus {path} is corrupt: SHA-256 {digest[:16]}... expected "
                            f"{TEXT_SHA256[:16]}.... Fix: {TEXT_HINT}")
    return tuple(path.read_text(encoding="utf-8").rstrip("\n").split("\n\n"))


def load_text(split: str = "train") -> str:
    """The corpus as one string: ``"train"`` (95% of its records) or ``"val"`` (every 20th record,
    held out from training and from the vocabulary), records joined by a blank line."""
    if split not in ("train", "val"):
        raise ValueError(f"text split must be 'train' or 'val', got {split!r}")
    records = _corpus_records()
    return "\n\n".join(r for i, r in enumerate(records) if (i % 20 == 19) == (split == "val"))


class CharTokenizer:
    """Character-level tokenizer: one id per character, id 0 = :data:`UNK`.

    Chinese characters are already close to word-level units (a line of a Tang poem is 5 or 7 of
    them), so characters need no tokenizer training. The vocabulary is every character seen at
    least ``min_count`` times in the training text, in code-point order after ``UNK``.

    >>> tok = CharTokenizer.from_text("床前明月光，疑是地上霜。")
    >>> tok.decode(tok.encode("明月光"))
    '明月光'
    """

    def __init__(self, chars: tuple[str, ...]):
        if not chars or chars[0] != UNK or len(set(chars)) != len(chars):
            raise ValueError("chars must start with UNK and hold each character once")
        self.chars = tuple(chars)
        self._ids = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text: str, min_count: int = 1) -> CharTokenizer:
        from collections import Counter
        counts = Counter(text)
        return cls((UNK, *sorted(c for c, n in counts.items() if n >= min_count and c != UNK)))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        return [self._ids.get(c, 0) for c in text]

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)


@functools.cache
def tokenizer() -> CharTokenizer:
    """The course tokenizer: characters seen at least 3 times in the training text (4,057 ids)."""
    return CharTokenizer.from_text(load_text("train"), min_count=3)


def load_tokens(split: str = "train") -> torch.Tensor:
    """The split encoded with :func:`tokenizer`: int64 ``(num_characters,)``."""
    return torch.tensor(tokenizer().encode(load_text(split)), dtype=torch.int64)
