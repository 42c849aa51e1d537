"""The package list, the only packaging option setup.cfg cannot express (everything else is
there): the zoo/ folder is installed as package data of ``tfc_swin.zoo_data``, so that a
non-editable install (``pip install .``) ships the trained models. ``tfc_swin.zoo.root``
finds them there, or in zoo/ of a source checkout (editable install); see BUILD_NOTES.md."""
from setuptools import find_packages, setup

setup(packages=find_packages(include=["tfc_swin", "tfc_swin.*"]) + ["tfc_swin.zoo_data"],
      package_dir={"tfc_swin.zoo_data": "zoo"},
      package_data={"tfc_swin.data": ["*.png"], "tfc_swin.zoo_data": ["**/*"]})
