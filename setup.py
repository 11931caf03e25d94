"""Package metadata lives in setup.cfg; this shim keeps `pip install -e .` working."""
import setuptools

setuptools.setup()
