#!/usr/bin/env bash
# Check that pyproject.toml's floors for the Hugging Face stack are true: install the oldest
# declared transformers / tokenizers (and a huggingface_hub they accept) into a temporary folder,
# put it in front of the pinned set, and run the tests of every module that uses them.
# Usage: scripts/check_floors.sh   (after `make setup`; needs the PyPI registry)
set -euo pipefail
cd "$(dirname "$0")/.."
target="$(mktemp -d)"
trap 'rm -rf "$target"' EXIT
.venv/bin/python -m pip install --quiet --no-deps --target "$target" \
  transformers==4.40.2 tokenizers==0.19.1 huggingface_hub==0.23.5
PYTHONPATH="$target:src" .venv/bin/python -c \
  "import transformers, tokenizers; print('floors:', transformers.__version__, tokenizers.__version__)"
PYTHONPATH="$target:src" .venv/bin/python -m pytest -q -p no:cacheprovider -m "not slow" \
  tests/test_albert.py tests/test_attention.py tests/test_pretraining.py \
  tests/test_albert_bilstm.py tests/test_fusion.py
