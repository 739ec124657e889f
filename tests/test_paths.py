"""greenkit.paths: the data root is found from a clone, an env var or a lab folder."""

from __future__ import annotations

from greenkit import paths


def test_env_var_comes_first(tmp_path, monkeypatch):
    """Does GREENKIT_DATA take precedence over every other root?"""
    monkeypatch.setenv("GREENKIT_DATA", str(tmp_path))
    assert paths.data_roots()[0] == tmp_path


def test_parent_folders_are_searched(tmp_path, monkeypatch):
    """Is datasets/ in a parent of the current folder found (a lab folder in a course tree)?"""
    monkeypatch.delenv("GREENKIT_DATA", raising=False)
    monkeypatch.setattr(paths, "REPO_DATASETS", tmp_path / "no-such")
    (tmp_path / "datasets" / "checkpoints").mkdir(parents=True)
    (tmp_path / "datasets" / "checkpoints" / "x.pt").write_bytes(b"x")
    lab = tmp_path / "course" / "lab02"
    lab.mkdir(parents=True)
    monkeypatch.chdir(lab)
    assert paths.find_data_file("checkpoints/x.pt", "hint") == tmp_path / "datasets" / "checkpoints" / "x.pt"


def test_cache_dir_is_writable(tmp_path, monkeypatch):
    """Is GREENKIT_CACHE used, and created, when set?"""
    monkeypatch.setenv("GREENKIT_CACHE", str(tmp_path / "c"))
    assert paths.cache_dir() == tmp_path / "c" and (tmp_path / "c").is_dir()
