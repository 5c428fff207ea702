#!/usr/bin/env bash
# On a Debian 12 machine with apt: unpacks the header-only/static dependencies the GPU build needs and a GPU
# machine may lack (nlohmann-json, fmt, gtest) into .gpu-deps/ (git-ignored), to carry to the GPU machine.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download nlohmann-json3-dev libfmt-dev libgtest-dev)
rm -rf "$root/.gpu-deps"
mkdir -p "$root/.gpu-deps"
for f in "$tmp"/*.deb; do dpkg -x "$f" "$root/.gpu-deps"; done
echo "unpacked into $root/.gpu-deps: $(ls "$root/.gpu-deps/usr/include" | tr '\n' ' ')"
