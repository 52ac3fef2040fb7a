"""Packaging glue pyproject.toml cannot say: the board files live in ``boards/`` at the
top of the source tree (the firmware build and the tests read them there) and ship
inside the package as ``sim/boards/*.toml``; every ``sim`` subpackage is found by
itself, so moving code into a new one needs no edit here."""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["sim", "sim.*"]), "sim.boards"],
      package_dir={"sim.boards": "boards"},
      package_data={"sim.boards": ["*.toml"]})
