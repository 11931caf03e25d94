#!/usr/bin/env bash
# The operators' install path (docs/install.md), as .ci/run runs it: build a
# wheel from this checkout (pbr takes the version from git), install it into
# a clean virtualenv under DIR and run the installed command from outside the
# tree, so nothing is imported from the checkout.
#   tools/release/wheel_check.sh DIR
set -euo pipefail
dir=${1:?usage: tools/release/wheel_check.sh DIR}
here=$(cd "$(dirname "$0")/../.." && pwd)
python3 -m venv "$dir/build-venv"
"$dir/build-venv/bin/pip" install -q build
"$dir/build-venv/bin/python" -m build --wheel --outdir "$dir/dist" "$here"
python3 -m venv "$dir/venv"
"$dir/venv/bin/pip" install -q "$dir"/dist/aggregate_pci-*.whl
cd "$dir"
venv/bin/aggregate-pci --version
venv/bin/aggregate-pci help flavor create
