#!/usr/bin/env bash
# Installs nagent's build and test dependencies from Debian packages (run as root on
# Debian bookworm or newer). Safe to run again: apt-get skips what is already there.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git python3
  libcpp-httplib-dev nlohmann-json3-dev liblua5.4-dev catch2
  libsqlite3-dev libssl-dev libseccomp-dev libpcre2-dev libicu-dev
  bubblewrap
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
