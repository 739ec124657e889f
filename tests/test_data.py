"""greenkit.data: offline Fashion-MNIST, verified, cached, with clear errors."""

from __future__ import annotations

import gzip
import shutil
import time

import numpy as np
import pytest
import torch

from greenkit import data
from greenkit.paths import REPO_DATASETS, DataFileError


def _reference_idx(path):
    """Independent IDX decoder: header via struct-like numpy big-endian read."""
    raw = gzip.open(path, "rb").read()
    ndim = raw[3]
    dims = np.frombuffer(raw[4:4 + 4 * ndim], dtype=">u4")
    return np.frombuffer(raw[4 + 4 * ndim:], dtype=np.uint8).reshape(dims)


def test_test_split_shapes_types_and_normalisation():
    """Is the test split 10,000 normalised (N,1,28,28) float32 images with int64 labels?"""
    x, y = data.load("test")
    assert x.shape == (10000, 1, 28, 28) and x.dtype == torch.float32
    assert y.shape == (10000,) and y.dtype == torch.int64
    assert torch.bincount(y).tolist() == [1000] * 10
    raw = _reference_idx(REPO_DATASETS / "fashion-mnist" / "t10k-images-idx3-ubyte.gz")
    want = (torch.from_numpy(raw.astype(np.float32)) / 255 - data.MEAN) / data.STD
    assert torch.allclose(x[:, 0], want, atol=1e-6)


def test_train_split_matches_known_statistics():
    """Does the train split have 60,000 images with mean ~0 and std ~1 after normalising?"""
    x, y = data.load("train")
    assert x.shape == (60000, 1, 28, 28)
    assert abs(x.mean().item()) < 1e-2 and abs(x.std().item() - 1) < 1e-2
    raw01, _ = data.load("train", normalize=False)
    assert abs(raw01.mean().item() - 0.2860) < 1e-3  # published Fashion-MNIST mean


def test_subset_is_first_n_per_class_in_file_order():
    """Is n_per_class the first N images of each class, in file order, deterministically?"""
    x_all, y_all = data.load("test")
    x, y = data.load("test", n_per_class=5)
    assert torch.bincount(y).tolist() == [5] * 10
    idx = [i for c in range(10) for i in (y_all == c).nonzero().flatten()[:5].tolist()]
    idx.sort()
    assert torch.equal(x, x_all[idx]) and torch.equal(y, y_all[idx])


def test_second_load_is_fast_and_independent():
    """Does a second load take well under a second, and is it safe to modify what it returns?"""
    x1, _ = data.load("train")
    x1.zero_()
    t0 = time.perf_counter()
    x2, _ = data.load("train")
    assert time.perf_counter() - t0 < 1.0
    assert x2.abs().sum() > 0  # the caller's edit did not reach the cache


def test_bad_arguments_are_rejected():
    """Are a wrong split name and a non-positive subset size refused with a message?"""
    with pytest.raises(ValueError, match="split"):
        data.load("validation")
    with pytest.raises(ValueError, match="n_per_class"):
        data.load("test", n_per_class=0)


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    """A private copy of datasets/fashion-mnist found through GREENKIT_DATA, empty cache."""
    root = tmp_path / "datasets"
    shutil.copytree(REPO_DATASETS / "fashion-mnist", root / "fashion-mnist")
    monkeypatch.setenv("GREENKIT_DATA", str(root))
    monkeypatch.setenv("GREENKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("greenkit.paths.REPO_DATASETS", tmp_path / "nowhere")
    monkeypatch.chdir(tmp_path / "datasets")
    data.clear_cache()
    yield root / "fashion-mnist"
    data.clear_cache()


def test_corrupt_file_is_reported_by_name(data_copy, monkeypatch):
    """Is a corrupted IDX file refused, naming the file and how to restore it?"""
    monkeypatch.setattr("greenkit.paths.DEBIAN_DATASETS", data_copy.parent / "none")
    target = data_copy / "t10k-labels-idx1-ubyte.gz"
    blob = bytearray(target.read_bytes())
    blob[100] ^= 0xFF
    target.write_bytes(bytes(blob))
    with pytest.raises(DataFileError) as err:
        data.load("test")
    msg = str(err.value)
    assert "t10k-labels-idx1-ubyte.gz" in msg and "corrupt" in msg
    assert "git checkout" in msg and "dataset-fashion-mnist" in msg


def test_missing_file_lists_places_searched(data_copy, monkeypatch):
    """Is a missing file reported with every place searched and the fix?"""
    monkeypatch.setattr("greenkit.paths.DEBIAN_DATASETS", data_copy.parent / "none")
    (data_copy / "train-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DataFileError) as err:
        data.load("train")
    msg = str(err.value)
    assert "train-images-idx3-ubyte.gz" in msg and str(data_copy.parent) in msg
    assert "GREENKIT_DATA" in msg


def test_data_found_through_environment_variable(data_copy):
    """Is the data found through GREENKIT_DATA when the package has no datasets/ beside it?"""
    paths = data.verify()
    assert all(str(p).startswith(str(data_copy)) for p in paths.values())
    x, _ = data.load("test", n_per_class=1)
    assert x.shape == (10, 1, 28, 28)
