"""Packaging: metadata lives in pyproject.toml; this adds the files outside the packages."""

from glob import glob

from setuptools import setup

setup(data_files=[("share/gatepost/schemas", sorted(glob("schemas/*.json"))),
                  ("share/gatepost/config", ["config/gatepost.example.yaml", "config/gatepost.real.yaml"])])
