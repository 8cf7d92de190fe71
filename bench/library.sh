#!/usr/bin/env bash
# Library speed against the hardware: criterion benches of crates/s2s next to `openssl speed
# rsa2048` measured in the same run (before and after, medians), printed as a table of figures
# and ratios. About 2 minutes on 2 cores after the release build.
set -euo pipefail
cd "$(dirname "$0")/.."

openssl_rates() { # prints "sign verify" per second, single core
  openssl speed -seconds 3 rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ {print $6, $7}'
}

echo "== openssl speed rsa2048 (before)" >&2
read -r sign1 verify1 < <(openssl_rates)
echo "== cargo bench -p s2s --bench token" >&2
cargo bench -q -p s2s --bench token -- --noplot >/dev/null 2>&1 || cargo bench -p s2s --bench token -- --noplot
echo "== openssl speed rsa2048 (after)" >&2
read -r sign2 verify2 < <(openssl_rates)

python3 - "$sign1" "$verify1" "$sign2" "$verify2" <<'PY'
import json, os, statistics, sys
sign = statistics.median([float(sys.argv[1]), float(sys.argv[3])])
verify = statistics.median([float(sys.argv[2]), float(sys.argv[4])])

def rate(group, bench):
    path = os.path.join("target", "criterion", group, bench, "new", "estimates.json")
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
failed = False
for name, r, base_name, base, target in rows:
    ratio = f"{r / base:.0%}" if base else ""
    tgt = f"≥ {target:.0%} of {base_name}" if target and target < 1 else (f"≥ {base_name}" if target else "")
    ok = "" if not target else (" ✓" if r / base >= target else " ✗")
    failed |= ok == " ✗"
    print(f"| {name} | {r:,.0f} | {base_name} | {ratio} | {tgt}{ok} |")
PY
