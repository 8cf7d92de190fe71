#!/usr/bin/env bash
# The project's test command: unit, integration and interop tests, the PostgreSQL store suites, and
# the fuzz seed corpora replayed as ordinary tests. Installs what the interop tests need (PyPI and
# npm packages) by itself; run it from anywhere.
#
# PostgreSQL: the PostgreSQL variants of the store tests are `#[ignore]`d (run without a database
# they would fail). This script finds a database and runs them with `--ignored`:
#   1. S2S_TEST_DATABASE_URL, when set, as given;
#   2. else the local server at S2S_TEST_PG_HOST:S2S_TEST_PG_PORT (default 127.0.0.1:5432, user
#      postgres, trust auth; the machine's cluster is started if it is installed but stopped): a
#      throw-away database is created in it and dropped on exit;
#   3. else a throw-away cluster made with the machine's PostgreSQL binaries (initdb/pg_ctl in
#      S2S_TEST_PG_BIN, default the newest /usr/lib/postgresql/*/bin) in a temporary directory, on
#      a free port, as the `postgres` user when run as root; stopped and removed on exit;
#   4. else it prints `SKIPPED: N PostgreSQL tests` and runs the rest.
# S2S_TEST_PG_PORT=1 S2S_TEST_PG_BIN=none shows the fourth case on a machine that has PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."

pg_host="${S2S_TEST_PG_HOST:-127.0.0.1}"
pg_port="${S2S_TEST_PG_PORT:-5432}"
pg_bin="${S2S_TEST_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)}"

throwaway_db=""
cluster_dir=""
cluster_ctl=()
cleanup() {
    if [ -n "$throwaway_db" ]; then
        psql -h "$pg_host" -p "$pg_port" -U postgres -d postgres -qc \
            "DROP DATABASE IF EXISTS $throwaway_db WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    if [ -n "$cluster_dir" ]; then
        "${cluster_ctl[@]}" stop -D "$cluster_dir/data" -m immediate >/dev/null 2>&1 || true
        rm -rf "$cluster_dir"
    fi
}
trap cleanup EXIT

# A database on the local server, when it answers (or can be started) and psql is installed.
local_server() {
    command -v pg_isready >/dev/null && command -v psql >/dev/null || return 1
    if ! pg_isready -h "$pg_host" -p "$pg_port" -t 2 >/dev/null 2>&1; then
        # The machine's own cluster, installed but stopped: start it (only for the default address).
        if [ "$pg_host:$pg_port" = "127.0.0.1:5432" ] && [ -d /etc/postgresql ] && command -v pg_ctlcluster >/dev/null; then
            pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main start \
                >/dev/null 2>&1 || true
            pg_isready -h "$pg_host" -p "$pg_port" -t 30 >/dev/null 2>&1 || return 1
        else
            return 1
        fi
    fi
    local name="s2s_test_$$_$(date +%s)"
    psql -h "$pg_host" -p "$pg_port" -U postgres -d postgres -v ON_ERROR_STOP=1 -qc "CREATE DATABASE $name" \
        >/dev/null 2>&1 || return 1
    throwaway_db="$name"
    export S2S_TEST_DATABASE_URL="postgres://postgres@$pg_host:$pg_port/$name"
}

# A cluster of our own in a temporary directory, from the machine's PostgreSQL binaries.
throwaway_cluster() {
    [ -n "$pg_bin" ] && [ -x "$pg_bin/initdb" ] && [ -x "$pg_bin/pg_ctl" ] || return 1
    local as=()
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 && command -v runuser >/dev/null || return 1
        as=(runuser -u postgres --)
    fi
    cluster_dir="$(mktemp -d -t s2s-pg.XXXXXX)"
    cluster_ctl=("${as[@]}" "$pg_bin/pg_ctl")
    [ "${#as[@]}" = 0 ] || chown postgres "$cluster_dir"
    local port
    port="$(free_port)" || return 1
    "${as[@]}" "$pg_bin/initdb" -D "$cluster_dir/data" -U postgres -A trust >"$cluster_dir/initdb.log" 2>&1 || return 1
    "${cluster_ctl[@]}" start -D "$cluster_dir/data" -w -t 60 -l "$cluster_dir/server.log" \
        -o "-p $port -c listen_addresses=127.0.0.1 -k $cluster_dir -c fsync=off" >/dev/null 2>&1 || return 1
    export S2S_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
}

# A TCP port on 127.0.0.1 nobody listens on.
free_port() {
    local port
    for port in $(shuf -i 20000-40000 -n 50); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    return 1
}

if [ -n "${S2S_TEST_DATABASE_URL:-}" ]; then
    pg_source="S2S_TEST_DATABASE_URL as given"
elif local_server; then
    pg_source="a throw-away database on $pg_host:$pg_port"
elif throwaway_cluster; then
    pg_source="a throw-away cluster from $pg_bin"
else
    pg_source=""
fi

cargo build --locked -p s2sd
cargo test --workspace --locked
if [ -n "$pg_source" ]; then
    echo "== PostgreSQL store tests on $pg_source"
    cargo test --workspace --locked --lib --tests -- --ignored
else
    skipped="$(cargo test --workspace --locked --lib --tests -- --list --ignored 2>/dev/null | grep -c ': test$' || true)"
    echo "SKIPPED: $skipped PostgreSQL tests (no database: set S2S_TEST_DATABASE_URL, or run a PostgreSQL server on 127.0.0.1:5432, or install its binaries)"
fi
bash tests/interop/run.sh "$PWD/target/debug/s2sd"
