"""The wheel that `pip install .` builds holds every module of the source tree and the data that
ship with it, and works installed away from the repository (an editable install reads the
source tree itself, so the rest of the suite would not notice a module or file left out)."""

import importlib.metadata
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from conftest import PYPROJECT, ROOT

SOURCES = ("pyproject.toml", "README.md", "LICENSE", "ssgan")


def _build_isolated() -> bool:
    """Whether the wheel must be built as ``pip install`` builds it, in an environment of its own
    with setuptools fetched from the package index: where the setuptools beside the tests is
    missing or older than pyproject.toml asks (else it builds offline, with that one)."""
    wanted = next(Requirement(r) for r in PYPROJECT["build-system"]["requires"] if r.startswith("setuptools"))
    try:
        return not wanted.specifier.contains(importlib.metadata.version("setuptools"))
    except importlib.metadata.PackageNotFoundError:
        return True


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> tuple[Path, str]:
    """The wheel built from a copy of the sources (so that the build writes nothing into the
    checkout), with what the build printed."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, src / name)
    how = ["--no-index", "--no-build-isolation"] if not _build_isolated() else []
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--verbose", "--no-deps", *how,
                            "--wheel-dir", str(tmp / "dist"), str(src)], capture_output=True, text=True, timeout=600)
    if built.returncode != 0 and how == [] and "No matching distribution found for setuptools" in built.stdout + built.stderr:
        pytest.skip("the build needs setuptools from the package index, which cannot be reached from here")
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (path,) = (tmp / "dist").glob("ssgan-*.whl")
    return path, built.stdout + built.stderr


def test_the_wheel_holds_every_module_and_the_bundled_data(wheel):
    path, log = wheel
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "ssgan").rglob("*.py") if "__pycache__" not in p.parts}
    assert modules and modules - names == set()
    bundled = {p.relative_to(ROOT).as_posix() for p in (ROOT / "ssgan" / "bundled").iterdir()}
    assert bundled == {"ssgan/bundled/mnist.npz", "ssgan/bundled/mnist_reference.pt"} and bundled <= names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    # setuptools warns, and may one day leave the folder out, when a folder of the package that
    # Python could import is not listed in pyproject.toml's packages
    assert "is absent from the `packages` configuration" not in log


def test_the_installed_wheel_reads_its_bundled_mnist(wheel, tmp_path):
    path, _ = wheel
    target = tmp_path / "site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target",
                                str(target), str(path)], capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    script = ("import ssgan\n"
              "from ssgan.data import load_mnist\n"
              "from ssgan.reference import load_reference\n"
              "mnist = load_mnist()\n"
              "print(ssgan.__file__, len(mnist.x_train), len(mnist.x_test), load_reference(mnist)[1]['name'])\n")
    env = {**os.environ, "PYTHONPATH": str(target)}
    ran = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert ran.returncode == 0, ran.stderr[-3000:]
    where, train, test, reference = ran.stdout.split(maxsplit=3)
    assert Path(where).is_relative_to(target) and (train, test) == ("60000", "10000")
    assert reference.startswith("ssgan reference CNN for mnist (shipped;"), reference
