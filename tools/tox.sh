#!/usr/bin/env bash
# Run tox from a private virtualenv, creating it on first use, so a fresh
# machine needs nothing but python3 (with venv and pip).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv="$here/.tox-bootstrap"
if [ ! -x "$venv/bin/tox" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check 'tox>=4,<5'
fi
cd "$here"
exec "$venv/bin/tox" "$@"
