#!/usr/bin/env bash
# Installs whatever is missing for building, serving and testing wasm-trainer.
# Idempotent and quick when everything is present (dpkg and npm checks only).
# Sources of each dependency: see README ("Toolchain").
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages (shared TOOLCHAIN facts). python3-torch is for reference fixtures
# and the PyTorch interop tests; WT_SKIP_TORCH=1 leaves it out on a dev machine.
pkgs=(cmake g++ make emscripten libeigen3-dev xtensor-dev xtl-dev libhwy-dev libxsimd-dev
      nlohmann-json3-dev libgtest-dev libbenchmark-dev clang libclang-rt-14-dev chromium
      dataset-fashion-mnist googletest)
[ "${WT_SKIP_TORCH:-0}" = 1 ] || pkgs+=(python3-torch python3-numpy)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# npm packages, exactly as pinned in package-lock.json. Skip when node_modules
# already matches the lock file (npm writes node_modules/.package-lock.json).
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund
fi
