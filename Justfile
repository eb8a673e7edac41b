# ChainCore's commands. `just` lists them.

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list

# Start a local network of N nodes (default 3): `just cluster 5 --miners 2`; Ctrl-C stops it. See README.
cluster n="3" *args:
    #!/usr/bin/env bash
    set -euo pipefail
    # The same build as `just test`'s, so the two share their artifacts.
    cargo build --workspace --bins
    target=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
    exec "$target/debug/chaincore-cluster" {{n}} {{args}}

# Remove what a stopped cluster left: .cluster/ and its PostgreSQL databases (refused while it runs).
cluster-down *args:
    #!/usr/bin/env bash
    set -euo pipefail
    cargo build --workspace --bins
    target=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
    exec "$target/debug/chaincore-cluster" down {{args}}

# Run every test (what CI runs). Uses cargo-nextest when installed.
test:
    #!/usr/bin/env bash
    set -euo pipefail
    # The multi-process tests run the node and tool binaries from the target directory.
    cargo build --workspace --bins
    if cargo nextest --version >/dev/null 2>&1; then
        cargo nextest run --workspace --no-fail-fast
        cargo test --workspace --doc
    else
        cargo test --workspace --no-fail-fast
    fi

# Formatting, clippy with warnings as errors, and the pure core's dependency boundary.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    just core-is-pure

# The pure core builds alone and links none of the I/O shell's crates.
core-is-pure:
    #!/usr/bin/env bash
    set -euo pipefail
    cargo check -q -p chaincore --no-default-features
    forbidden=$(cargo tree -p chaincore --no-default-features -e normal,build --prefix none \
        | grep -E '^(tokio|libp2p|axum|sea-orm|sqlx)[ -]' | sort -u || true)
    if [ -n "$forbidden" ]; then
        echo "the pure core depends on I/O crates:"; echo "$forbidden"; exit 1
    fi
    echo "pure core: no tokio, libp2p, axum or sea-orm"

# Format the code.
fmt:
    cargo fmt --all

# Benchmarks (release build): figures beside this machine's ceilings, measured in the same run.
# The chain-state benchmark runs on SQLite and, when a server answers, on PostgreSQL.
bench:
    cargo bench -p chaincore --no-default-features --bench hashing
    cargo bench -p chaincore --bench chainstate
    cargo bench -p chaincore --bench api
    cargo bench -p chaincore --bench accept_path
    cargo build --release -p chaincore --bin chaincore-node -p chaincore-tools --bin chaincore-lab
    cargo bench -p chaincore-tests --bench network
    cargo bench -p chaincore-tests --bench serving
    cargo bench -p chaincore-tests --bench long_chain
    cargo bench -p chaincore-tools --bench miner
    cargo bench -p chaincore-tools --bench lab

# Run a network-lab scenario (root: network namespaces): `just lab tests/scenarios/twelve.toml`.
# Prints the report and writes report.json and report.html into .lab/<name>/ (or --out DIR).
lab scenario *args:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ "$(id -u)" != 0 ]; then echo "the lab needs root (network namespaces)" >&2; exit 1; fi
    cargo build --workspace --bins
    target=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
    exec "$target/debug/chaincore-lab" {{scenario}} {{args}}

# Partition scenario 1 for a user (root: network namespaces): five nodes split 3 | 2, both
# sides mining, a double spend, then the heal; prints the convergence report.
partition-demo:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ "$(id -u)" != 0 ]; then echo "the partition demo needs root (network namespaces)" >&2; exit 1; fi
    cargo build --workspace --bins
    CHAINCORE_REQUIRE_NETNS=1 cargo nextest run -p chaincore-tests --test partition \
        --no-capture --status-level fail scenario_1
