#!/usr/bin/env bash
# Packs build/nagent with the shared libraries it needs beyond glibc and libstdc++ into
# DIR/nagent-bundle.tar.xz, so that the GPU machine (which has none of our Debian packages) can
# play episodes with the real runtime while it trains: device_train.sh unpacks it when carried.
#   scripts/default_model/bundle_nagent.sh DIR
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:?usage: bundle_nagent.sh DIR}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/lib" "$out"
cp build/nagent "$stage/"
ldd build/nagent | awk '$3 ~ /^\// {print $3}' | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so.*|libm.so.*|libstdc++.so.*|libgcc_s.so.*|ld-linux*) ;;  # the host's own are newer
    *) cp -L "$lib" "$stage/lib/" ;;
  esac
done
tar -C "$stage" -cJf "$out/nagent-bundle.tar.xz" .
ls -la "$out/nagent-bundle.tar.xz"
