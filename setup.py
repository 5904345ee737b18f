"""The package list, found rather than kept by hand, so a new subpackage cannot be left out of
the wheel: every package under numbanet/, and the inspector's folder widgets/ installed as
numbanet.widgets (the mapping is pyproject.toml's package-dir). Everything else is in
pyproject.toml."""

from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).resolve().parent

setup(
    packages=[
        *find_packages(ROOT, include=["numbanet", "numbanet.*"]),
        *(f"numbanet.{name}" for name in find_packages(ROOT, include=["widgets", "widgets.*"])),
    ]
)
