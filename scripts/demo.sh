#!/usr/bin/env bash
# The main job: nagent fixes the planted bug in examples/swe_basic with recipes/swe_fix.lua.
# The example is copied to a scratch git repository first, so this checkout stays unchanged.
# Extra arguments go to `nagent run` (e.g. --endpoint URL --model NAME, --json).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
work=$(mktemp -d "${TMPDIR:-/tmp}/nagent-demo.XXXXXX")
cp -r examples/swe_basic/. "$work"
git -C "$work" init -q
git -C "$work" add -A
git -C "$work" -c user.name=nagent -c user.email=nagent@localhost commit -qm "swe_basic example"
echo "workspace: $work" >&2
exec build/nagent run swe_fix --repo "$work" \
  --task "stats.median returns wrong results for lists of even length; make the tests pass." "$@"
