#!/usr/bin/env bash
# On a Debian 12 machine with apt: downloads the libraries the main build needs that a GPU machine's image lacks
# (it has CUDA, PyTorch, CMake, ninja and MPI; not HDF5, yaml-cpp, spdlog, fmt, CLI11, nlohmann-json, GoogleTest,
# utf8proc), with their library dependencies, and unpacks them into .gpu-deps/ (git-ignored) to carry there.
# bench/gpu/run.sh points CMake and the loader at it. Compilers, MPI, Perl and system packages are left out:
# the image has its own.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
wanted=(libhdf5-dev libyaml-cpp-dev libfmt-dev libgtest-dev libspdlog-dev libcli11-dev nlohmann-json3-dev
        libpcre2-dev libutf8proc-dev libzstd-dev libssl-dev)
skip='^(lib(c6|c-dev-bin|gcc|stdc|asan|tsan|ubsan|lsan|atomic|itm|quadmath|gomp|gfortran|llvm|clang|mlir|flang|openmpi|pmix|hwloc|ucx|fabric|ibverbs|rdmacm|psm|perl|x11|xau|xcb|xdmcp|xext|pam|selinux|semanage|sepol|audit|cap|crypt|acl|bz2|lzma|md0|bsd|tinfo|readline|udev|numa|nl-|edit|icu|xml2|isl|mpc|mpfr|gmp|binutils|ctf|gprofng|cc1|debian|newt|slang|textwrap|jpeg|js-|ltdl|munge|evenet|tirpc|nsl|event|db5|gdbm|sqlite|ffi|uuid|zstd1|z3|pciaccess|xnvctrl|cbor|fido|ssl3|opencl)|gcc|cpp|g\+\+|gfortran|flang|openmpi|perl|binutils|dpkg|debconf|cdebconf|adduser|passwd|tar|debianutils|install-info|autoconf|automake|autotools|m4|catch2|googletest|hdf5-helpers|linux-libc-dev|rpcsvc|readline-common|zlib1g|openssh|nss-plugin|ibverbs|ocl-icd|libnss3|libnspr4|libcurl4-(gnutls|nss)-dev|libcurl3-nss|.*fortran.*)'
mapfile -t packages < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
  --no-replaces --no-enhances "${wanted[@]}" | grep -v '^[ <]' | grep -Ev "$skip" | sort -u)
(cd "$tmp" && apt-get download "${packages[@]}" > /dev/null)
rm -rf "$root/.gpu-deps"
mkdir -p "$root/.gpu-deps"
for f in "$tmp"/*.deb; do dpkg -x "$f" "$root/.gpu-deps"; done
# Within the 64 MiB a device call carries: no docs, and static archives only where there is no shared library
# (GoogleTest's).
rm -rf "$root/.gpu-deps/usr/share/doc" "$root/.gpu-deps/usr/share/man"
find "$root/.gpu-deps" -name '*.a' ! -name 'libgtest*' ! -name 'libgmock*' -delete
echo "unpacked ${#packages[@]} packages into $root/.gpu-deps ($(du -sh "$root/.gpu-deps" | cut -f1)): ${packages[*]}"
