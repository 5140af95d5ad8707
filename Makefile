# godwit: `make demo` shows the main job, `make test` runs every check.
# Both install what is missing first (PostgreSQL server binaries included).
SHELL := /bin/bash
CARGO ?= cargo
GODWIT := target/release/godwit
# The test suite's throwaway cluster lives outside the repo so that the
# unprivileged server account can reach it when we run as root.
TEST_HOME ?= /tmp/godwit-test-home
SF ?= 1
# The backup benchmark's scale factor (0.5: a ~440 MB SQLite file, ~600 MB in PostgreSQL).
BACKUP_SF ?= 0.5
BACKUP_ARGS ?=
# e.g. BENCH_ARGS='--reps 5 --tools godwit,limit'
BENCH_ARGS ?=
# Size of each generated events file for the documents benchmark, in MB.
DOCS_MB ?= 1024
DOCS_ARGS ?=

# The long fuzzing run: inputs of each kind (SQLite gets an eighth), and the seed.
FUZZ_INPUTS ?= 20000
FUZZ_SEED ?= 1

.PHONY: deps demo test build fuzz crash bench bench-sqlite bench-documents bench-backup bench-sync bench-workload bench-scale bench-partitions clean-local

deps:
	@scripts/install-deps.sh

build: deps
	$(CARGO) build --release

demo: build
	@mkdir -p target/demo
	@rm -f target/demo/sample-app.db
	python3 scripts/make_sample_app.py target/demo/sample-app.db
	$(GODWIT) local start >/dev/null
	$(GODWIT) copy target/demo/sample-app.db --replace --to "$$($(GODWIT) local url)"; \
	  code=$$?; [ $$code -eq 0 ] || [ $$code -eq 3 ] || exit $$code
	@echo
	@echo "== A document source: an app-state JSON dump (users, subreddits, posts, comments, messages)"
	python3 scripts/make_sample_state.py target/demo/app-state.json
	$(GODWIT) copy target/demo/app-state.json --schema app_state --replace --verify --to "$$($(GODWIT) local url)"; \
	  code=$$?; [ $$code -eq 0 ] || [ $$code -eq 3 ] || exit $$code
	@echo
	@echo "== The app's own queries on SQLite and on PostgreSQL: parity, a two-level sweep, plans, index advice"
	$(GODWIT) workload target/demo/sample-app.db --queries scripts/sample-app-queries.sql --to "$$($(GODWIT) local url)" \
	  --clients 1,10 --duration 3s --p95 100ms --explain-top 10; \
	  code=$$?; [ $$code -eq 0 ] || [ $$code -eq 3 ] || exit $$code
	@echo
	@echo "Look around with:  psql \"$$($(GODWIT) local url)\"   (schemas public and app_state)"
	@echo "Then try:          $(GODWIT) plan target/demo/sample-app.db"
	@echo "                   $(GODWIT) plan target/demo/app-state.json"

test: deps
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) build
	@# A fresh cluster per run: tests create a database each, so none pile up.
	-@GODWIT_HOME=$(TEST_HOME) target/debug/godwit local stop >/dev/null 2>&1
	rm -rf $(TEST_HOME)
	GODWIT_HOME=$(TEST_HOME) target/debug/godwit local start >/dev/null
	@# nextest runs the test binaries in parallel; plain cargo test where it is missing.
	GODWIT_HOME=$(TEST_HOME) GODWIT_TEST_URL="$$(GODWIT_HOME=$(TEST_HOME) target/debug/godwit local url)" \
	  sh -c 'if command -v cargo-nextest >/dev/null; then $(CARGO) nextest run --all-targets --no-fail-fast; \
	         else $(CARGO) test --all-targets -- --test-threads=4; fi'

# Mutation fuzzing of every source format (tests/fuzz_sources.rs), long:
# 0 panics, 0 hangs, no error without a position. Findings are kept in
# target/fuzz-findings. `make test` runs a short seeded run of the same.
fuzz:
	GODWIT_FUZZ_INPUTS=$(FUZZ_INPUTS) GODWIT_FUZZ_SEED=$(FUZZ_SEED) \
	  $(CARGO) test --test fuzz_sources -- --nocapture --test-threads=2

bench: bench-sqlite bench-documents bench-backup bench-sync bench-workload bench-scale bench-partitions

bench-sqlite: deps
	@scripts/install-deps.sh bench
	$(CARGO) build --release
	python3 bench/run.py --sf $(SF) $(BENCH_ARGS)

# A sync round with 1% of rows changed against the copy, and the cutover pause.
bench-sync: deps
	$(CARGO) build --release
	python3 bench/sync.py --sf $(SF) $(BENCH_ARGS)

bench-documents: deps
	@scripts/install-deps.sh bench
	$(CARGO) build --release
	python3 bench/documents.py --mb $(DOCS_MB) $(DOCS_ARGS)

# godwit backup/restore against plain pg_dump/pg_restore, e.g. BACKUP_ARGS='--reps 5 --jobs 2'
bench-backup: deps
	@scripts/install-deps.sh bench
	$(CARGO) build --release
	python3 bench/backup.py --sf $(BACKUP_SF) $(BACKUP_ARGS)

# godwit workload's harness against pgbench -M prepared on one indexed lookup,
# its RSS at 100 clients, and parity of 10,000 distinct queries, e.g.
# WORKLOAD_ARGS='--reps 5 --seconds 20'
WORKLOAD_ARGS ?=
# Time partitions: copy partitioned vs not, a time-range query, writes and
# archive throughput on a generated event table (PARTITION_ROWS events).
PARTITION_ROWS ?= 10000000
bench-partitions: deps
	$(CARGO) build --release
	python3 bench/partitions.py --rows $(PARTITION_ROWS) $(PARTITION_ARGS)

bench-workload: deps
	$(CARGO) build --release --bin godwit --example workload_floor
	python3 bench/workload.py $(WORKLOAD_ARGS)

# Replica lag, primary tps and the primary's CPU by process (walsenders against
# client backends) with 0/1/2 standbys (pgbench -N -c 4), and a read load at
# 100/500/1000 clients through PgBouncer and directly, e.g.
# SCALE_ARGS='--reps 5 --seconds 60', or the saturation sweep
# SCALE_ARGS='--standbys 0,2,4,8 --skip-reads --skip-workload'
SCALE_ARGS ?=
bench-scale: deps
	$(CARGO) build --release
	python3 bench/scale.py $(SCALE_ARGS)

clean-local:
	-GODWIT_HOME=$(TEST_HOME) target/debug/godwit local stop
	rm -rf $(TEST_HOME)

# The crash harness's long sweep (docs/reliability.md): every command killed
# at CRASH_POINTS seeded random points, plus server restarts and a full disk.
# Replay a failure with CRASH_SEED=<the seed it printed>.
CRASH_HOME ?= /tmp/godwit-crash-home
CRASH_POINTS ?= 100
crash: deps
	$(CARGO) build
	-@GODWIT_HOME=$(CRASH_HOME) target/debug/godwit local stop >/dev/null 2>&1
	rm -rf $(CRASH_HOME)
	GODWIT_HOME=$(CRASH_HOME) target/debug/godwit local start >/dev/null
	set -o pipefail; GODWIT_HOME=$(CRASH_HOME) GODWIT_TEST_URL="$$(GODWIT_HOME=$(CRASH_HOME) target/debug/godwit local url)" \
	  GODWIT_CRASH_POINTS=$(CRASH_POINTS) $(if $(CRASH_SEED),GODWIT_CRASH_SEED=$(CRASH_SEED)) \
	  $(CARGO) test --test crash_kill --test crash_sync --test crash_server -- --nocapture --test-threads=2 2>&1 \
	  | tee target/crash.log
	@grep -h 'CRASH-TALLY\|GODWIT_CRASH_SEED' target/crash.log
