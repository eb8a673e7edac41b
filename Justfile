# ChainCore's commands. `just` lists them.

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list

# Start a local network of N nodes (default 3); see README.
cluster n="3" *args:
    @echo "chaincore-cluster is not built yet: it arrives with the cluster issue (#7)." >&2
    @exit 1

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
    cargo build --release -p chaincore --bin chaincore-node
    cargo bench -p chaincore-tests --bench network
    cargo bench -p chaincore-tools --bench miner
