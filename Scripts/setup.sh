#!/usr/bin/env bash
# Installs the system packages Kallima builds and runs with, if any are missing:
# libjpeg (JPEG decoding), zlib (gzip-compressed idx files), Fashion-MNIST (the embedded default data),
# the OpenCL ICD loader and headers, CLBlast, libpng, OpenBLAS (BLAS + LAPACK in Double for the
# host Fréchet distance), PoCL (an OpenCL device on the CPU, so a machine without a GPU can
# run everything), chromium (the test suite loads a run folder's index.html in headless
# chromium), xz-utils and binutils (Scripts/package.sh compresses and strips the release
# archive), and Open MPI (the MPI build, `swift build --traits MPI`, and its mpirun tests; the
# default build does not need it). Debian 12 / Ubuntu; needs root or sudo.
set -euo pipefail

packages=(ocl-icd-opencl-dev opencl-headers libclblast-dev libpng-dev libjpeg-dev zlib1g-dev libopenblas-dev pocl-opencl-icd dataset-fashion-mnist chromium xz-utils binutils libopenmpi-dev openmpi-bin)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "setup: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
