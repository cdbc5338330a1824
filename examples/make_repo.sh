#!/usr/bin/env bash
# Copies examples/NAME into DIR (which must not exist) as a fresh git repository with one
# commit, so a recipe can work on it (and its diff) without touching the checkout.
#   examples/make_repo.sh review_basic /tmp/review
set -euo pipefail
if [[ $# -ne 2 ]]; then
  echo "usage: examples/make_repo.sh EXAMPLE DIR" >&2
  exit 2
fi
src="$(cd "$(dirname "$0")" && pwd)/$1"
[[ -d "$src" ]] || { echo "make_repo: no example '$1' in $(dirname "$src")" >&2; exit 2; }
[[ -e "$2" ]] && { echo "make_repo: $2 exists already" >&2; exit 2; }
mkdir -p "$2"
cp -r "$src/." "$2"
git -C "$2" init -q
git -C "$2" add -A
git -C "$2" -c user.name=nagent -c user.email=nagent@localhost commit -qm "$1 example"
echo "$2"
