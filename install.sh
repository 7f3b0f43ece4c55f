#!/usr/bin/env bash
# Install xtalkit into ./.venv and run the main job on a shipped example.
#
#   ./install.sh            # create .venv, install, predict the ellipsoids of a shipped CIF
#   PYTHON=python3.12 ./install.sh
#
# torch==2.13.0 (CPU) is installed first; every later pip call passes
# -c constraints.txt, which pins torch, so nothing can pull a CUDA build.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
.venv/bin/xtalkit adp predict --example urea -o example_output/ --plot
