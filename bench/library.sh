#!/usr/bin/env bash
# Library speed against the hardware: criterion benches of crates/s2s next to `openssl speed
# rsa2048` measured in the same run (before and after, medians), printed as a table of figures
# and ratios, after the machine line (bench/machine.sh). About 2 minutes on 2 cores after the
# release build; QUICK=1 is a smoke run (1-s openssl runs, short criterion measurements).
#
# Only estimates written by this run are read: criterion saves them under a baseline named for
# this run (`--save-baseline`), each file must be newer than the run's start, and the baseline is
# removed afterwards. Exits non-zero when any step fails (openssl, the build, a bench, an estimate
# missing or stale); a missed target is a measurement, printed with ✗, and exits 0 (as
# bench/server.sh does).
#
#   bash bench/library.sh
#   QUICK=1 bash bench/library.sh
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
    OPENSSL_SECONDS=1
    CRITERION_ARGS=(--warm-up-time 1 --measurement-time 2)
else
    OPENSSL_SECONDS=3
    CRITERION_ARGS=()
fi
CRITERION_DIR=${CARGO_TARGET_DIR:-target}/criterion
BASELINE="library-$(date -u +%Y%m%dT%H%M%SZ)-$$"
START=$(mktemp "${TMPDIR:-/tmp}/s2s-bench-library.XXXXXX")  # its mtime is the run's start
LOG=$(mktemp "${TMPDIR:-/tmp}/s2s-bench-library-log.XXXXXX")

die() { echo "bench/library.sh: $*" >&2; exit 1; }
cleanup() {
    rm -f "$START" "$LOG"
    if [ -d "$CRITERION_DIR" ]; then
        find "$CRITERION_DIR" -mindepth 3 -maxdepth 3 -type d -name "$BASELINE" -exec rm -rf {} + 2>/dev/null || true
    fi
}
trap cleanup EXIT

openssl_rates() { # prints "sign verify" per second, single core; fails when openssl does
    local out
    out=$(openssl speed -seconds "$OPENSSL_SECONDS" rsa2048 2>/dev/null) || die "openssl speed rsa2048 failed"
    awk '/^rsa 2048 bits/ {print $6, $7; found = 1} END {exit !found}' <<<"$out" ||
        die "openssl speed printed no 'rsa 2048 bits' line"
}

bash bench/machine.sh || die "bench/machine.sh failed"
echo "== openssl speed rsa2048 (before)" >&2
rates=$(openssl_rates)
read -r sign1 verify1 <<<"$rates"
echo "== cargo bench -p s2s --bench token -- --save-baseline $BASELINE" >&2
if ! cargo bench -q -p s2s --bench token -- --noplot --save-baseline "$BASELINE" "${CRITERION_ARGS[@]}" >"$LOG" 2>&1; then
    tail -n 40 "$LOG" >&2
    die "cargo bench failed (last lines above)"
fi
echo "== openssl speed rsa2048 (after)" >&2
rates=$(openssl_rates)
read -r sign2 verify2 <<<"$rates"

python3 - "$CRITERION_DIR" "$BASELINE" "$START" "$sign1" "$verify1" "$sign2" "$verify2" <<'PY'
import json, os, re, statistics, sys
criterion, baseline, start_file = sys.argv[1:4]
numbers = sys.argv[4:8]
for n in numbers:
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)?", n):
        sys.exit(f"bench/library.sh: openssl speed gave {n!r}, not a rate")
sign = statistics.median([float(numbers[0]), float(numbers[2])])
verify = statistics.median([float(numbers[1]), float(numbers[3])])
started = os.stat(start_file).st_mtime

def rate(group, bench):
    path = os.path.join(criterion, group, bench, baseline, "estimates.json")
    if not os.path.exists(path):
        sys.exit(f"bench/library.sh: {path} is missing: the bench {group}/{bench} did not run in this run")
    if os.stat(path).st_mtime < started:
        sys.exit(f"bench/library.sh: {path} is older than this run")
    with open(path) as f:
        ns = json.load(f)["median"]["point_estimate"]
    return 1e9 / ns

rows = [
    ("actor token signing (RS256-2048)", rate("sign_actor", "rs256_2048"), "openssl sign", sign, 0.90),
    ("signature verification only", rate("verify_signature", "rs256_2048"), "openssl verify", verify, None),
    ("validation, uncached, act-as", rate("validate_uncached", "act_as"), "openssl verify", verify, 0.80),
    ("validation, uncached, app-only", rate("validate_uncached", "app_only"), "openssl verify", verify, None),
    ("validation, cached, act-as", rate("validate_cached", "act_as"), "2 M/s", 2e6, 1.0),
    ("act-as minting, cached actor", rate("mint_act_as_cached_actor", "issuer"), "1 M/s", 1e6, 1.0),
    ("metadata parse (2 keys)", rate("parse_metadata", "two_keys"), "", None, None),
]
print(f"openssl speed rsa2048 (median of 2, one core): sign {sign:,.0f}/s, verify {verify:,.0f}/s")
print()
print("| figure | ops/s (median) | baseline | ratio | target |")
print("|---|---:|---|---:|---|")
missed = []
for name, r, base_name, base, target in rows:
    ratio = f"{r / base:.0%}" if base else ""
    tgt = f"≥ {target:.0%} of {base_name}" if target and target < 1 else (f"≥ {base_name}" if target else "")
    ok = "" if not target else (" ✓" if r / base >= target else " ✗")
    if ok == " ✗":
        missed.append(name)
    print(f"| {name} | {r:,.0f} | {base_name} | {ratio} | {tgt}{ok} |")
print()
print(f"Targets missed: {', '.join(missed)}" if missed else "All targets met.")
PY
