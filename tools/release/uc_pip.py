#!/usr/bin/env python3
"""pip install under one OpenStack release's upper-constraints (tox's install_command).

Usage: uc_pip.py RELEASE [pip install arguments...]

The constraints files live in ``../shared/upper-constraints/`` next to the
clone (``RELEASE.txt`` or ``RELEASE-master.txt``), or in the directory named by
``AGGREGATE_PCI_UPPER_CONSTRAINTS``.  A missing file is an error, never a
silent unconstrained install.  ``UC_DROP`` (comma-separated project names)
removes those pins, for a release whose own services need a newer library
than its constraints file says (2026.2: Nova 34 needs keystoneauth1 >= 5.16
and oslo.versionedobjects >= 3.12.0, the master file of August 2026 pins
5.15.0 and 3.11.0).
"""

import os
import pathlib
import re
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parents[2]


def constraints_file(release):
    base = pathlib.Path(
        os.environ.get("AGGREGATE_PCI_UPPER_CONSTRAINTS")
        or HERE.parent / "shared" / "upper-constraints"
    )
    for name in (release + ".txt", release + "-master.txt"):
        if (base / name).is_file():
            return base / name
    sys.exit(
        f"uc_pip.py: no upper-constraints file for release {release} in {base} "
        f"(expected {release}.txt or {release}-master.txt; set "
        f"AGGREGATE_PCI_UPPER_CONSTRAINTS to the directory holding them)"
    )


def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    release, args = argv[0], argv[1:]
    path = constraints_file(release)
    drop = {norm(n) for n in os.environ.get("UC_DROP", "").split(",") if n.strip()}
    if drop:
        lines = [
            line
            for line in path.read_text().splitlines()
            if norm(re.split(r"[=<>;!~ ]", line, maxsplit=1)[0]) not in drop
        ]
        tmp = tempfile.NamedTemporaryFile("w", suffix="-uc.txt", delete=False)
        tmp.write("\n".join(lines) + "\n")
        tmp.close()
        path = pathlib.Path(tmp.name)
    cmd = [sys.executable, "-m", "pip", "install", "-c", str(path)] + args
    try:
        return subprocess.call(cmd)
    finally:
        if drop:
            path.unlink()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
