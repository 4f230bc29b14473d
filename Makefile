# Yishi (议事): build, test and run.
#
#   make run    serve the full app on embedded SQLite and print a demo link
#   make test   every test: format, lints, the workspace tests, binding drift

.DEFAULT_GOAL := help
# `test` runs its steps in order, even under `make -j`.
.NOTPARALLEL:
.PHONY: help test fmt fmt-check clippy pdf-worker cargo-test bindings-check bench-engine bench-web run web web-test e2e

BINDINGS := web-client/src/protocol
# The debug binaries (yishi, yishi-loadtest), built with the features `cargo test
# --workspace` resolves (dev-dependencies included): with any other package selection
# cargo unifies features differently and rebuilds half the dependencies and both
# binaries between the test, e2e and load steps.
DEBUG_BINS := cargo build --workspace --bins --tests

help:
	@echo "Targets:"
	@echo "  make run     serve the full app on embedded SQLite and print a demo link"
	@echo "  make test    every test: fmt check, clippy, cargo test, web unit tests,"
	@echo "               browser end-to-end (Chromium), TypeScript binding drift"
	@echo "  make web     build the web client (embedded in the binary)"
	@echo "  make pdf-worker  build yishi-pdf, the PDF worker, beside yishi (target/debug)"
	@echo "  make bench   short load run of every scenario beside nats-server and Janus,"
	@echo "               writes docs/bench/latest.md and latest.json (about 3 minutes)"
	@echo "  make bench-engine  room engine benchmark (criterion)"
	@echo "  make bench-live    the livestream: frame to HLS playback, worker CPU, serving"
	@echo "               direct and through nginx; see docs/bench/livestream.md (~2 min)"
	@echo "  make bench-web     the audience page in Chromium, CPU 4x slower, 3G networks"
	@echo "               (CDP); writes docs/bench/web.md (about 2 minutes)"
	@echo "  make fmt     format all Rust code"
	@echo "  make clippy  lint the workspace, warnings are errors"

# The web client is built first: the server binary embeds web-client/dist.
test: fmt-check web clippy pdf-worker cargo-test web-test e2e load-smoke bindings-check fuzz-smoke

# web-client/package.json pins rollup (an override) to a release whose platform packages
# all exist in the registry; otherwise `npm ci` refuses the lock file.
web:
	cd web-client && npm ci --no-audit --no-fund && npm run build

web-test:
	cd web-client && npm run typecheck && npm test

# Drives the real binary in Debian's Chromium (see web-client/e2e/).
e2e: pdf-worker
	$(DEBUG_BINS)
	cd web-client && npm run e2e

fmt:
	cargo fmt --all
	cd server/pdf-worker && cargo fmt

fmt-check:
	cargo fmt --all -- --check
	cd server/pdf-worker && cargo fmt -- --check

clippy:
	cargo clippy --workspace --all-targets -- -D warnings
	cd server/pdf-worker && cargo clippy -- -D warnings

# The PDF worker `yishi-pdf` (typst; its own workspace, server/pdf-worker), built into
# target/ beside `yishi`, where the server finds it (docs/minutes.md). The tests of PDF
# minutes and participation records run it.
pdf-worker:
	cd server/pdf-worker && cargo build

# Also regenerates the TypeScript bindings (ts-rs, see .cargo/config.toml).
cargo-test: pdf-worker
	cargo test --workspace

# Fails if the tests changed (or added, or removed) a generated binding.
bindings-check:
	@if [ -n "$$(git status --porcelain -- $(BINDINGS))" ]; then \
		git status --porcelain -- $(BINDINGS); \
		echo "TypeScript bindings are out of date: run \`cargo test -p yishi-protocol\` and commit $(BINDINGS)"; \
		exit 1; \
	fi

bench-engine:
	cargo bench -p yishi-server --bench engine

# The audience page's first render and time to interactive under a slow CPU and network.
bench-web: web
	$(DEBUG_BINS)
	cd web-client && node bench/web.mjs --md ../docs/bench/web.md

run: web
	cd server/pdf-worker && cargo build --release
	cargo run --release -p yishi-server --bin yishi -- serve --demo

# Load tests (load-tests/, see docs/bench/README.md). `load-smoke` runs every scenario
# at small N against a fresh debug server (< 90 s; media: 3 WebRTC subscribers) and
# fails if events or media are lost or ballots miscounted; `bench` runs a short
# version of every scenario on a release build beside nats-server and Janus (media at
# 25, 100 and 200 subscribers) and writes docs/bench/latest.md and latest.json (≤ 5 min).
.PHONY: load-smoke bench bench-live
load-smoke:
	$(DEBUG_BINS)
	target/debug/yishi-loadtest --spawn --peer none -n 100 --duration 2 --hold-secs 1 \
		--senders 5 --subscribers 3 --max-seconds 180 all
	# Worker processes, as beyond 20,000 connections: 150 clients over three processes.
	target/debug/yishi-loadtest --spawn --peer none --per-process 60 -n 150 --duration 2 \
		--hold-secs 1 --max-seconds 120 hold fanout
	# The board (码上议事): 2,000 topics and 10,000 supports seeded, 2 s per phase; fails
	# if a support is miscounted or a request refused.
	target/debug/yishi-loadtest --spawn --board-topics 2000 --board-supports 10000 \
		--board-read-rate 50 --board-support-rate 100 --duration 2 --max-seconds 120 board
	# A cluster's owner killed under load (needs nats-server and the PostgreSQL of
	# YISHI_TEST_PG; ~12 s): fails if an acknowledged comment is lost or doubled, or a
	# viewer sees a gap or does not come back (docs/bench/cluster.md). 25 viewers per
	# process: the other 35 in two worker processes, as beyond 20,000.
	target/debug/yishi-loadtest --spawn --cluster 3 --lease-ttl 2 --peer none -n 60 --rate 2 \
		--per-process 25 --duration 8 --max-seconds 60 failover
	# Members relayed in a cluster: 60 members over three nodes cast a binding ballot at
	# once; fails if one is not acknowledged or the count differs (~5 s).
	target/debug/yishi-loadtest --spawn --cluster 3 --peer none -n 60 --voter-role members \
		--max-seconds 60 votes

bench:
	cargo build --release -p yishi-server -p yishi-loadtest --bins
	target/release/yishi-loadtest --spawn --peer auto -n 2000 --rate 10 --duration 10 \
		--voters 2000 --joins 2000 --subscribers 25,100,200 --max-seconds 300 \
		--json docs/bench/latest.json --md docs/bench/latest.md all

# The livestream (needs ffmpeg; nginx for the cache figures), see docs/bench/livestream.md.
bench-live:
	$(DEBUG_BINS)
	target/debug/yishi-loadtest --spawn --peer none --duration 30 --serve-secs 5 \
		--live-sizes 1280x720,640x360 --max-seconds 300 --json live.json live

# Fuzzing (server/fuzz/, its own workspace; see docs/fuzzing.md). `fuzz-smoke` builds the
# targets once (cargo-fuzz: nightly flags, enabled on stable by RUSTC_BOOTSTRAP=1;
# AddressSanitizer and debug assertions; 16 codegen units and opt-level 1, for a build
# several times faster at the price of slower runs), then runs each built binary (not `cargo fuzz
# run`, which would rebuild whenever the tree changed meanwhile) over its kept crash
# inputs (regressions/<target>/), then fuzzes it for 20 s from its seeds; new inputs go
# to the ignored corpus/<target>/, a crash to artifacts/<target>/.
.PHONY: fuzz-smoke
FUZZ_TARGETS := client_message room_commands sdp_offer
FUZZ_BIN = server/fuzz/target/$(shell rustc -vV | sed -n 's/^host: //p')/release
FUZZ_LIMITS := -rss_limit_mb=2048 -timeout=10
fuzz-smoke:
	CARGO_PROFILE_RELEASE_OPT_LEVEL=1 RUSTC_BOOTSTRAP=1 \
		cargo fuzz build --fuzz-dir server/fuzz --debug-assertions --codegen-units 16
	@set -e; for t in $(FUZZ_TARGETS); do \
		d=server/fuzz; mkdir -p $$d/regressions/$$t $$d/corpus/$$t $$d/artifacts/$$t; \
		echo "== $$t: regressions"; \
		ASAN_OPTIONS=detect_odr_violation=0 $(FUZZ_BIN)/$$t -artifact_prefix=$$d/artifacts/$$t/ \
			-runs=0 $(FUZZ_LIMITS) $$d/regressions/$$t; \
		echo "== $$t: 20 s"; \
		ASAN_OPTIONS=detect_odr_violation=0 $(FUZZ_BIN)/$$t -artifact_prefix=$$d/artifacts/$$t/ \
			-max_total_time=20 -print_final_stats=1 $(FUZZ_LIMITS) $$d/corpus/$$t $$d/seeds/$$t; \
	done
