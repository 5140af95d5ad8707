#!/usr/bin/env bash
# Writes the report screenshots shown in the README (docs/report-*.png):
# the sample app copied into the local cluster, one row changed so verify
# has a difference to show, then each page in headless Chromium at 1280x800.
# Usage: scripts/screenshots.sh   (after `make build`; PROFILE=debug uses the debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${PROFILE:-release}
godwit=target/$profile/godwit
release_flag=$([ "$profile" = release ] && echo --release || true)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 scripts/make_sample_app.py "$work/app.db" >/dev/null
$godwit local start >/dev/null
url=$($godwit local url)
psql -qX "$url" -c "DROP DATABASE IF EXISTS godwit_screenshots" -c "CREATE DATABASE godwit_screenshots"
db="${url%/*}/godwit_screenshots"
$godwit copy "$work/app.db" --to "$db" -q >/dev/null
psql -qX "$db" -c "UPDATE comments SET body = 'edited after the copy' WHERE id IN (7, 12)" \
  -c "CREATE INDEX posts_user_again ON posts (user_id)" -c "CREATE INDEX posts_user_twice ON posts (user_id)"
$godwit health --to "$db" --html "$work/health.html" >/dev/null || true
$godwit inspect --to "$db" --html "$work/inspect.html" >/dev/null || true
$godwit verify "$work/app.db" --to "$db" --html "$work/verify.html" -q >/dev/null || true
$godwit report --to "$db" --source "$work/app.db" --workload tests/fixtures/report/workload.json \
  --html "$work/report.html" -q >/dev/null || true
cargo run -q $release_flag --example render_report -- "$work/workload.html" --workload tests/fixtures/report/workload.json
for page in health inspect verify workload report; do
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --hide-scrollbars --user-data-dir="$work/profile-$page" \
    --window-size=1280,800 --screenshot="docs/report-$page.png" "file://$work/$page.html" 2>/dev/null
done
psql -qX "$url" -c "DROP DATABASE godwit_screenshots"
ls -l docs/report-*.png
