#!/usr/bin/env bash
# Server CPU per write transaction under each `godwit audit` mode: one
# session runs N transactions (an UPDATE of a random row and an INSERT each)
# and the CPU time of its backend process is read from /proc before and
# after. CPU time, unlike tps, does not move with the machine's load; it
# leaves out the commit flush (synchronous_commit off) and the log writes of
# other processes. Run on the database server itself (reads /proc).
# Usage: bench/audit_cpu.sh URL [REPS] [TRANSACTIONS]
set -euo pipefail
url=$1; reps=${2:-3}; n=${3:-5000}
godwit=${GODWIT:-target/release/godwit}
[ -x "$godwit" ] || godwit=target/debug/godwit
db="${url%/*}/godwit_audit_cpu"
psql "$url" -qc "DROP DATABASE IF EXISTS godwit_audit_cpu" -c "CREATE DATABASE godwit_audit_cpu" \
  -c "ALTER DATABASE godwit_audit_cpu SET synchronous_commit = off" >/dev/null
work=$(mktemp)
{
  echo "SELECT pg_backend_pid() AS pid \\gset"
  echo "\\setenv BENCH_BACKEND_PID :pid"
  echo "\\! awk '{print \$14 + \$15}' /proc/\$BENCH_BACKEND_PID/stat > $work.before"
  for i in $(seq "$n"); do
    id=$(( (RANDOM * 32768 + RANDOM) % 100000 + 1 ))
    echo "BEGIN; UPDATE accounts SET balance = balance + 1 WHERE id = $id; INSERT INTO history (account_id, delta) VALUES ($id, 1); COMMIT;"
  done
  echo "\\! awk '{print \$14 + \$15}' /proc/\$BENCH_BACKEND_PID/stat > $work.after"
} > "$work.sql"
ticks=$(getconf CLK_TCK)
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for mode in none trigger pgaudit; do
  results=()
  for rep in $(seq "$reps"); do
    psql "$db" -q >/dev/null <<'SQL'
DROP TABLE IF EXISTS accounts, history;
DROP SCHEMA IF EXISTS godwit CASCADE;
CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL, filler char(84) NOT NULL DEFAULT '');
INSERT INTO accounts SELECT g, 0 FROM generate_series(1, 100000) g;
CREATE TABLE history (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, account_id int, delta int, at timestamptz DEFAULT now());
VACUUM ANALYZE accounts;
SQL
    "$godwit" audit disable --to "$db" >/dev/null
    case $mode in
      trigger) "$godwit" audit enable --to "$db" --mode trigger >/dev/null ;;
      pgaudit) "$godwit" audit enable --to "$db" --mode pgaudit >/dev/null ;;
    esac
    psql "$db" -q -f "$work.sql" >/dev/null
    us=$(awk -v b="$(cat "$work.before")" -v t="$ticks" -v n="$n" '{printf "%.1f", ($1 - b) / t / n * 1e6}' "$work.after")
    echo "$mode run $rep: $us us of backend CPU per transaction"
    results+=("$us")
  done
  printf '%s\n' "${results[@]}" | median | xargs echo "$mode median us/transaction:"
done
"$godwit" audit disable --to "$db" >/dev/null
rm -f "$work" "$work.sql" "$work.before" "$work.after"
