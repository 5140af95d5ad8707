#!/usr/bin/env bash
# Write overhead of `godwit audit` on a pgbench-style mix: per transaction one
# UPDATE of a random row and one INSERT, on 100k rows; no audit, trigger mode,
# pgaudit mode. Prints tps per run and the median of each mode.
# synchronous_commit is off by default (SYNCHRONOUS_COMMIT=on to change): on a
# shared machine the commit flush dominates and hides the audit's own cost.
# Usage: bench/audit.sh URL [REPS] [SECONDS] [CLIENTS]
set -euo pipefail
url=$1; reps=${2:-3}; secs=${3:-10}; clients=${4:-2}
godwit=${GODWIT:-target/release/godwit}
[ -x "$godwit" ] || godwit=target/debug/godwit
db="${url%/*}/godwit_audit_bench"
psql "$url" -qc "DROP DATABASE IF EXISTS godwit_audit_bench" -c "CREATE DATABASE godwit_audit_bench" \
  -c "ALTER DATABASE godwit_audit_bench SET synchronous_commit = ${SYNCHRONOUS_COMMIT:-off}" >/dev/null
script=$(mktemp)
cat > "$script" <<'SQL'
\set aid random(1, 100000)
UPDATE accounts SET balance = balance + 1 WHERE id = :aid;
INSERT INTO history (account_id, delta) VALUES (:aid, 1);
SQL
reset_tables() {
  psql "$db" -q >/dev/null <<'SQL'
DROP TABLE IF EXISTS accounts, history;
CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL, filler char(84) NOT NULL DEFAULT '');
INSERT INTO accounts SELECT g, 0 FROM generate_series(1, 100000) g;
CREATE TABLE history (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, account_id int, delta int, at timestamptz DEFAULT now());
VACUUM ANALYZE accounts;
SQL
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for mode in none trigger pgaudit; do
  results=()
  for rep in $(seq "$reps"); do
    reset_tables
    "$godwit" audit disable --to "$db" >/dev/null
    psql "$db" -qc "DROP SCHEMA IF EXISTS godwit CASCADE" >/dev/null
    case $mode in
      trigger) "$godwit" audit enable --to "$db" --mode trigger >/dev/null ;;
      pgaudit) "$godwit" audit enable --to "$db" --mode pgaudit >/dev/null ;;
    esac
    tps=$(pgbench -n -c "$clients" -j "$clients" -T "$secs" -f "$script" "$db" 2>/dev/null \
          | awk '/^tps/ {print $3; exit}')
    echo "$mode run $rep: $tps tps"
    results+=("$tps")
  done
  printf '%s\n' "${results[@]}" | median | xargs echo "$mode median tps:"
done
"$godwit" audit disable --to "$db" >/dev/null
rm -f "$script"
