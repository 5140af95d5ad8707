#!/usr/bin/env bash
# Installs what godwit's build, demo and tests need and the machine lacks.
# Idempotent and quiet when everything is present. Usage: install-deps.sh [bench]
set -euo pipefail

need=()
have_server() {
  local dir
  dir=$(pg_config --bindir 2>/dev/null || true)
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && return 0
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}
have_server || need+=(postgresql postgresql-contrib)
command -v psql >/dev/null || need+=(postgresql-client)
command -v pg_dump >/dev/null || need+=(postgresql-client)
command -v sqlite3 >/dev/null || need+=(sqlite3)
# hypopg: hypothetical indexes for `godwit workload`'s index advice.
compgen -G "/usr/share/postgresql/*/extension/hypopg.control" >/dev/null || {
  major=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)
  need+=("postgresql-${major:-15}-hypopg")
}
# pg_query (the real PostgreSQL parser, for `migrate lint`) builds with bindgen.
# (libclang-cpp, which a new machine has, is not the library bindgen loads.)
compgen -G "/usr/lib/llvm-*/lib/libclang.so*" >/dev/null || compgen -G "/usr/lib/*/libclang-[0-9]*.so*" >/dev/null \
  || need+=(libclang-dev clang)
# pgaudit, for `godwit audit` (session and object audit logging) on the newest installed server.
pgmajor=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)
if [ -n "$pgmajor" ] && [ ! -e "/usr/lib/postgresql/$pgmajor/lib/pgaudit.so" ]; then
  need+=("postgresql-$pgmajor-pgaudit")
fi
# PgBouncer, for `godwit local start --pooler` and the pooler tests.
command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || need+=(pgbouncer)
# pg_partman, which keeps time partitions ahead where installed (`godwit maintain`).
if [ -n "$pgmajor" ] && ! compgen -G "/usr/share/postgresql/$pgmajor/extension/pg_partman.control" >/dev/null; then
  need+=("postgresql-$pgmajor-partman")
fi
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
# The HTML reports are tested in a real headless browser (tests/report_html.rs).
command -v chromium >/dev/null || need+=(chromium)
if [ "${1:-}" = bench ]; then
  command -v pgloader >/dev/null || need+=(pgloader)
  [ -x /usr/bin/time ] || need+=(time)
fi
command -v cargo >/dev/null || { echo "cargo is missing: install Rust from rustup first" >&2; exit 1; }

if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}" >&2
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
