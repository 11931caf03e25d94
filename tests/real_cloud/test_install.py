"""The cloud's Nova venv runs the package an operator installs (issue 20):
under CI, ``.ci/run`` builds a wheel (docs/install.md) and the cloud lane
installs that wheel, not the checkout, into the venv of nova-scheduler."""

import json
import os
import pathlib

import pytest

_ROOT = pathlib.Path(__file__).resolve().parents[2]
PROBE = (
    "import importlib.metadata as m, json, aggregate_pci;"
    "d = m.distribution('aggregate-pci');"
    "print(json.dumps({'direct_url': d.read_text('direct_url.json'),"
    " 'file': aggregate_pci.__file__, 'version': d.version}))"
)


def test_scheduler_venv_holds_the_built_wheel(cloud):
    wheel = os.environ.get("AGGREGATE_PCI_CLOUD_WHEEL")
    if not wheel:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but no AGGREGATE_PCI_CLOUD_WHEEL: .ci/run builds one")
        pytest.skip("cloud installed from the checkout (no AGGREGATE_PCI_CLOUD_WHEEL)")
    # -I: not the checkout (the working directory) on sys.path
    proc = cloud.run("python3", "-I", "-c", PROBE)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    url = json.loads(found["direct_url"])["url"]
    assert url.endswith(os.path.basename(wheel)), url
    # imported from the venv's site-packages, not the checkout's source tree
    # (the venv itself may live inside the checkout: .cloud-venv)
    assert "/site-packages/aggregate_pci/" in found["file"], found["file"]
    assert not found["file"].startswith(str(_ROOT / "aggregate_pci")), found["file"]
    assert found["version"] in os.path.basename(wheel)
