"""greenkit.toolchain: the C++ compiler check torch.compile needs (Lab 3, greenkit doctor)."""

from __future__ import annotations

import platform

import pytest

from greenkit import toolchain


@pytest.fixture(autouse=True)
def _fresh_cache():
    toolchain.cpp_compiler.cache_clear()
    yield
    toolchain.cpp_compiler.cache_clear()


def _only_on_path(monkeypatch, folder, name: str, system: str):
    """Pretend to be ``system`` with an executable ``name`` the only thing on PATH and no $CXX."""
    exe = folder / name
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    monkeypatch.setattr(platform, "system", lambda: system)
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setenv("PATH", str(folder))
    return exe


def test_linux_finds_gpp_on_path(monkeypatch, tmp_path):
    """Is a g++ on PATH reported as available, with its path?"""
    gpp = _only_on_path(monkeypatch, tmp_path, "g++", "Linux")
    check = toolchain.cpp_compiler()
    assert check.available and check.compiler == str(gpp) and check.fix == ""


def test_linux_without_compiler_says_how_to_install(monkeypatch, tmp_path):
    """With no compiler on PATH, does the check fail with a reason and an install command?"""
    monkeypatch.setattr(platform, "system", lambda: "Linux")
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    check = toolchain.cpp_compiler()
    assert not check.available and check.compiler is None
    assert "g++" in check.reason and "apt install g++" in check.fix
    assert "no C++ compiler" in str(check)


def test_windows_needs_cl(monkeypatch, tmp_path):
    """On Windows, is a missing cl.exe named, with the Build Tools as the fix?"""
    monkeypatch.setattr(platform, "system", lambda: "Windows")
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    check = toolchain.cpp_compiler()
    assert not check.available and "cl.exe" in check.reason and "Build Tools" in check.fix


def test_macos_clang_stub_without_xcode_tools_is_not_a_compiler(monkeypatch, tmp_path):
    """Is macOS's /usr/bin/clang++ stub rejected when xcode-select says the tools are missing?"""
    _only_on_path(monkeypatch, tmp_path, "clang++", "Darwin")
    monkeypatch.setattr(toolchain, "_xcode_tools_installed", lambda: False)
    check = toolchain.cpp_compiler()
    assert not check.available and "xcode-select --install" in check.fix
    toolchain.cpp_compiler.cache_clear()
    monkeypatch.setattr(toolchain, "_xcode_tools_installed", lambda: True)
    assert toolchain.cpp_compiler().available


def test_cxx_pointing_nowhere_is_reported(monkeypatch, tmp_path):
    """Does a $CXX that names a missing program fail, naming the variable?"""
    monkeypatch.setattr(platform, "system", lambda: "Linux")
    monkeypatch.setenv("CXX", "no-such-compiler-xyz")
    monkeypatch.setenv("PATH", str(tmp_path))
    check = toolchain.cpp_compiler()
    assert not check.available and "CXX" in check.reason
