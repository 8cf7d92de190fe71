#!/usr/bin/env bash
# Interop checks: real third-party clients (PyJWT + cryptography, exchangelib and Office365-REST-Python-Client
# from PyPI, node-sp-auth from npm)
# against a real s2sd on 127.0.0.1. See tests/interop/README.md.
#
# usage: bash tests/interop/run.sh <path-to-s2sd-binary>
# Prints `ok - <name>` / `not ok - <name>: <why>` / `skip - <name>: <why>` per check, then
# `N passed, M failed, K skipped` and the names of the skipped checks; exits non-zero if any check
# failed (or the setup itself failed). A skip is never counted as a pass.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: bash tests/interop/run.sh <path-to-s2sd-binary>" >&2
  exit 2
fi

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
S2SD="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
if [[ ! -x "$S2SD" ]]; then
  echo "not an executable: $1" >&2
  exit 2
fi

PASSED=0
FAILED=0
SKIPPED=0
SKIPPED_NAMES=()
SERVER_PIDS=()
T="$(mktemp -d "${TMPDIR:-/tmp}/s2s-interop.XXXXXX")"

cleanup() {
  local pid
  for pid in "${SERVER_PIDS[@]+"${SERVER_PIDS[@]}"}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${SERVER_PIDS[@]+"${SERVER_PIDS[@]}"}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ok() { echo "ok - $1"; PASSED=$((PASSED + 1)); }
not_ok() { echo "not ok - $1: $2"; FAILED=$((FAILED + 1)); }
skip() { echo "skip - $1: $2"; SKIPPED=$((SKIPPED + 1)); SKIPPED_NAMES+=("$1"); }
note() { sed 's/^/# /'; }

# Tallies the lines a helper printed (file $2): `ok - ` passes, `not ok - ` failures, and skips —
# `skip - ` lines and TAP's `ok - … # SKIP …`, which are never counted as passes. If it printed
# none, or exited non-zero without reporting a failure, records a failure named $1.
tally() {
  local name="$1" out="$2" rc="$3" n_ok n_bad n_skip line
  cat "$out"
  n_ok=$(grep '^ok - ' "$out" | grep -vc '# SKIP' || true)
  n_bad=$(grep -c '^not ok - ' "$out" || true)
  n_skip=0
  while IFS= read -r line; do
    n_skip=$((n_skip + 1))
    SKIPPED_NAMES+=("$(sed -E 's/^(skip|ok) - //' <<<"$line")")
  done < <(grep -E '^skip - |^ok - .*# SKIP' "$out" || true)
  PASSED=$((PASSED + n_ok))
  FAILED=$((FAILED + n_bad))
  SKIPPED=$((SKIPPED + n_skip))
  if [[ $((n_ok + n_bad + n_skip)) -eq 0 || ($rc -ne 0 && $n_bad -eq 0) ]]; then
    not_ok "$name" "the helper exited with status $rc (expected checks missing)"
  fi
}

finish() {
  local s
  echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
  for s in "${SKIPPED_NAMES[@]+"${SKIPPED_NAMES[@]}"}"; do
    echo "# skipped: $s"
  done
  [[ $FAILED -eq 0 ]]
}

# ---------------------------------------------------------------------------------------------
# Tools, installed idempotently (a stamp of the pinned requirement files skips reinstalling).

setup_python() {
  local venv="$HERE/.venv" stamp
  stamp="$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)"
  if [[ -x "$venv/bin/python" && "$(cat "$venv/.interop-stamp" 2>/dev/null)" == "$stamp" ]]; then
    return 0
  fi
  [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$HERE/requirements.txt"
  echo "$stamp" >"$venv/.interop-stamp"
}

setup_node() {
  local dir="$HERE/node" stamp
  stamp="$(cat "$dir/package.json" "$dir/package-lock.json" | sha256sum | cut -d' ' -f1)"
  if [[ -d "$dir/node_modules/node-sp-auth" && "$(cat "$dir/node_modules/.interop-stamp" 2>/dev/null)" == "$stamp" ]]; then
    return 0
  fi
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$stamp" >"$dir/node_modules/.interop-stamp"
}

if ! setup_python >"$T/setup-python.log" 2>&1; then
  not_ok "setup: python venv with $(tr '\n' ' ' <"$HERE/requirements.txt")" "see log below"
  note <"$T/setup-python.log"
  finish
  exit 1
fi
if ! setup_node >"$T/setup-node.log" 2>&1; then
  not_ok "setup: npm ci in tests/interop/node" "see log below"
  note <"$T/setup-node.log"
  finish
  exit 1
fi
PY="$HERE/.venv/bin/python"

# ---------------------------------------------------------------------------------------------
# s2sd helpers

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

s2sd() { # s2sd <name> <args…>: runs the CLI against $T/<name>.db, output to $T/<name>.cli.log
  local name="$1"
  shift
  "$S2SD" --store "sqlite:$T/$name.db" "$@" 2>>"$T/$name.cli.log"
}

# start_server <name>: serves store $T/<name>.db over https on a free port (TLS in $T/<name>-tls);
# sets PORT. Waits at most 10 s in all for /healthz; if the process exits at once (another
# process took the free port first), tries once more on a fresh port within the same 10 s.
start_server() {
  local name="$1" pid deadline=$((SECONDS + 10)) attempt
  for attempt in 1 2; do
    PORT="$(free_port)"
    "$S2SD" --store "sqlite:$T/$name.db" serve --listen "127.0.0.1:$PORT" --tls-dir "$T/$name-tls" \
      >"$T/$name.serve.log" 2>&1 &
    pid=$!
    SERVER_PIDS+=("$pid")
    while ((SECONDS < deadline)); do
      if [[ -f "$T/$name-tls/tls.crt" ]] &&
        curl -sf --max-time 2 --cacert "$T/$name-tls/tls.crt" "https://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then
        return 0
      fi
      kill -0 "$pid" 2>/dev/null || continue 2
      sleep 0.2
    done
    break
  done
  return 1
}

# caught_up <name> <port>: waits (at most 5 s) until the server of store $T/<name>.db has applied the
# store's configuration version (its /healthz `config_version`), so that what the CLI just changed
# is in effect there (a running node reloads its store on its own schedule).
caught_up() {
  local name="$1" port="$2" want have deadline=$((SECONDS + 5))
  want="$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True).execute("SELECT version FROM config_version WHERE id = 1").fetchone()[0])' "$T/$name.db")" || return 1
  while ((SECONDS < deadline)); do
    have="$(curl -sf --max-time 2 --cacert "$T/$name-tls/tls.crt" "https://127.0.0.1:$port/healthz" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["config_version"])' 2>/dev/null)" || have=-1
    ((have >= want)) && return 0
    sleep 0.1
  done
  return 1
}

server_log() { # last lines of a node's CLI and server logs, as diagnostics
  local f
  for f in "$T/$1.cli.log" "$T/$1.serve.log"; do
    if [[ -s "$f" ]]; then tail -n 20 "$f" | note || true; fi
  done
  return 0
}

# A throw-away RSA-2048 certificate + key (PEM).
make_cert() { # make_cert <base path> <CN>
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 -subj "/CN=$2" \
    -keyout "$1.key" -out "$1.crt" >/dev/null 2>&1
}

# ---------------------------------------------------------------------------------------------
# Check 1: PyJWT verifies our tokens against our published metadata.

EXCHANGE_ID=00000002-0000-0ff1-ce00-000000000000
A_REALM=litwareinc.com
A_HOST=mail.litwareinc.com

check_pyjwt() {
  if ! {
    s2sd a oauth-config set --realm "$A_REALM" --service-name lync >/dev/null &&
      s2sd a certificate new >/dev/null &&
      make_cert "$T/exchange" "Exchange partner" &&
      s2sd a partner-application new --identity Exchange --application-identifier "$EXCHANGE_ID" \
        --realm "$A_REALM" --certificate "$T/exchange.crt" >/dev/null
  }; then
    not_ok "pyjwt: configure store A" "an s2sd command failed"
    server_log a
    return 0
  fi
  if ! start_server a; then
    not_ok "pyjwt: serve store A over https" "no answer on /healthz within 10 s (or it exited; log below)"
    server_log a
    return 0
  fi
  local a_port="$PORT"
  if ! s2sd a token issue --partner Exchange --host "$A_HOST" >"$T/app-only.jwt" ||
    ! s2sd a token issue --partner Exchange --host "$A_HOST" --user "sip:kenmyer@$A_REALM" >"$T/act-as.jwt"; then
    not_ok "pyjwt: s2sd token issue" "the command failed"
    server_log a
    return 0
  fi
  local rc=0
  timeout 60 "$PY" "$HERE/pyjwt_verify.py" \
    --metadata-url "https://127.0.0.1:$a_port/metadata/json/1" \
    --cafile "$T/a-tls/tls.crt" \
    --audience "$EXCHANGE_ID/$A_HOST@$A_REALM" \
    --app-only "$T/app-only.jwt" \
    --act-as "$T/act-as.jwt" \
    --expect-sip "kenmyer@$A_REALM" >"$T/pyjwt.out" 2>&1 || rc=$?
  tally "pyjwt: pyjwt_verify.py" "$T/pyjwt.out" "$rc"
}

# ---------------------------------------------------------------------------------------------
# Checks 2 and 3 share server B: a SharePoint-like node with a GUID realm.

B_REALM="$(python3 -c 'import uuid; print(uuid.uuid4())')"
ADDIN_ID="$(python3 -c 'import uuid; print(uuid.uuid4())')"
OTHER_ID="$(python3 -c 'import uuid; print(uuid.uuid4())')"
B_UP=0

setup_b() {
  if ! {
    s2sd b oauth-config set --realm "$B_REALM" --service-name sharepoint >/dev/null &&
      s2sd b certificate new >/dev/null &&
      make_cert "$T/addin" HighTrustAddin &&
      s2sd b partner-application new --identity HighTrustAddin --application-identifier "$ADDIN_ID" \
        --realm "$B_REALM" --certificate "$T/addin.crt" --trust-level full >/dev/null
  }; then
    not_ok "server B: configure (SharePoint, realm $B_REALM, add-in $ADDIN_ID)" "an s2sd command failed"
    server_log b
    return 0
  fi
  if ! start_server b; then
    not_ok "server B: serve over https" "no answer on /healthz within 10 s (or it exited; log below)"
    server_log b
    return 0
  fi
  B_PORT="$PORT"
  B_UP=1
}

# The x5t node-sp-auth must be given: it copies `shaThumbprint` verbatim into the JWT header, so it
# is base64url(SHA-1(DER)) (its wiki's example has this form), not the hex thumbprint.
x5t_of() { # x5t_of <cert.pem>
  openssl x509 -in "$1" -outform DER | openssl dgst -sha1 -binary | base64 | tr '+/' '-_' | tr -d '='
}

run_node() { # run_node <check name> <accept|reject> <client id> <thumbprint>
  local rc=0
  SITE_URL="https://127.0.0.1:$B_PORT/" CLIENT_ID="$3" REALM="$B_REALM" KEY_PATH="$T/addin.key" \
    SHA_THUMBPRINT="$4" EXPECT_PARTNER=HighTrustAddin NODE_EXTRA_CA_CERTS="$T/b-tls/tls.crt" \
    timeout 60 node "$HERE/node/onprem.js" "$1" "$2" >"$T/node.out" 2>&1 || rc=$?
  tally "$1" "$T/node.out" "$rc"
}

check_node_sp_auth() {
  local x5t
  x5t="$(x5t_of "$T/addin.crt")"
  run_node "node-sp-auth: on-premise add-in token accepted by /s2s/whoami (partner HighTrustAddin)" \
    accept "$ADDIN_ID" "$x5t"
  # interop.md §5: a validator must take x5t with or without `=` padding.
  run_node "node-sp-auth: same, with shaThumbprint given with = padding" \
    accept "$ADDIN_ID" "$x5t="
  run_node "node-sp-auth: negative control, unregistered client id refused with 401 Bearer realm challenge" \
    reject "$OTHER_ID" "$x5t"
}

check_realm_discovery() {
  local method name hdrs
  for method in GET HEAD POST; do
    name="realm discovery: $method /_vti_bin/client.svc with an empty bearer -> 401, realm first, 36-char slice"
    hdrs="$T/challenge-$method.txt"
    local args=(-s -o /dev/null -D "$hdrs" --max-time 5 --cacert "$T/b-tls/tls.crt" -H 'Authorization: Bearer ')
    case "$method" in
      HEAD) args+=(-I) ;;
      POST) args+=(-X POST --data '') ;;
    esac
    if ! curl "${args[@]}" "https://127.0.0.1:$B_PORT/_vti_bin/client.svc" >/dev/null 2>"$T/curl.err"; then
      not_ok "$name" "curl failed: $(tr '\n' ' ' <"$T/curl.err")"
      continue
    fi
    local why
    why="$("$PY" - "$hdrs" "$B_REALM" <<'PY'
import sys
raw = open(sys.argv[1], encoding="latin-1").read()
expected = sys.argv[2]
lines = raw.replace("\r\n", "\n").split("\n")
status = lines[0].split(" ")[1] if lines and " " in lines[0] else "?"
challenges = [l.split(":", 1)[1].strip() for l in lines if l.lower().startswith("www-authenticate:")]
bearer = [c for c in challenges if c.lower().startswith("bearer ")]
problems = []
if status != "401":
    problems.append(f"status {status}, expected 401")
if not bearer:
    problems.append(f"no Bearer challenge (WWW-Authenticate: {challenges})")
else:
    c = bearer[0]
    # What node-sp-auth (and TokenHelper, gosip) do: 36 characters after `Bearer realm="`.
    marker = 'Bearer realm="'
    i = c.find(marker)
    sliced = c[i + len(marker): i + len(marker) + 36] if i >= 0 else None
    if not c.startswith(marker):
        problems.append(f"realm is not the first parameter: {c!r}")
    if sliced != expected:
        problems.append(f"36-char slice gives {sliced!r}, expected {expected!r}")
    elif c[len(marker) + 36: len(marker) + 37] != '"':
        problems.append(f"realm value is not exactly the 36-char GUID: {c!r}")
print("; ".join(problems))
PY
)" || why="python snippet failed"
    if [[ -z "$why" ]]; then
      ok "$name"
    else
      not_ok "$name" "$why"
      note <"$hdrs"
    fi
  done
}

# ---------------------------------------------------------------------------------------------
# Check 4: exchangelib against the mailbox service (EWS) of node X, an Exchange node in realm
# litwareinc.com. X trusts Lync (Full trust, linked account lync-app with UserApplication), Reader
# (linked account without roles) and Archiver (linked account with ArchiveApplication); each
# partner's own store mints its tokens with `s2sd token issue`, and X knows it by certificate.

X_REALM=litwareinc.com
X_USER="kenmyer@$X_REALM"
READER_ID="$(python3 -c 'import uuid; print(uuid.uuid4())')"
ARCHIVER_ID="$(python3 -c 'import uuid; print(uuid.uuid4())')"
LYNC_ID=00000004-0000-0ff1-ce00-000000000000

setup_exchangelib() { # configures stores x, ly, rd, ar; returns non-zero on the first failing command
  local name id
  s2sd x oauth-config set --realm "$X_REALM" --service-name "$EXCHANGE_ID" >/dev/null &&
    s2sd x certificate new >/dev/null &&
    s2sd x certificate export --out "$T/x-issuer.crt" >/dev/null || return 1
  for name in ly rd ar; do
    case "$name" in
      ly) id="$LYNC_ID" ;;
      rd) id="$READER_ID" ;;
      ar) id="$ARCHIVER_ID" ;;
    esac
    s2sd "$name" oauth-config set --realm "$X_REALM" --service-name "$id" >/dev/null &&
      s2sd "$name" certificate new >/dev/null &&
      s2sd "$name" certificate export --out "$T/$name-issuer.crt" >/dev/null &&
      s2sd "$name" partner-application new --identity Exchange --application-identifier "$EXCHANGE_ID" \
        --realm "$X_REALM" --certificate "$T/x-issuer.crt" >/dev/null || return 1
  done
  s2sd x partner-application new --identity Lync --application-identifier "$LYNC_ID" --realm "$X_REALM" \
    --certificate "$T/ly-issuer.crt" --trust-level full --linked-account "lync-app@$X_REALM" >/dev/null &&
    s2sd x partner-application new --identity Reader --application-identifier "$READER_ID" --realm "$X_REALM" \
      --certificate "$T/rd-issuer.crt" --linked-account "norights@$X_REALM" >/dev/null &&
    s2sd x partner-application new --identity Archiver --application-identifier "$ARCHIVER_ID" --realm "$X_REALM" \
      --certificate "$T/ar-issuer.crt" >/dev/null &&
    s2sd x partner-application set Archiver --linked-account "archiver@$X_REALM" >/dev/null &&
    s2sd x mailbox user new --smtp "$X_USER" --display-name "Ken Myer" >/dev/null &&
    s2sd x mailbox user new --smtp "lync-app@$X_REALM" >/dev/null &&
    s2sd x mailbox user new --smtp "norights@$X_REALM" >/dev/null &&
    s2sd x mailbox user new --smtp "archiver@$X_REALM" >/dev/null &&
    s2sd x role-assignment new --role UserApplication --user "lync-app@$X_REALM" >/dev/null &&
    s2sd x role-assignment new --role ArchiveApplication --user "archiver@$X_REALM" >/dev/null
}

check_exchangelib() {
  if ! setup_exchangelib; then
    not_ok "exchangelib: configure node X (Exchange) and partners Lync, Reader, Archiver" "an s2sd command failed"
    server_log x
    return 0
  fi
  if ! start_server x; then
    not_ok "exchangelib: serve node X over https" "no answer on /healthz within 10 s (or it exited; log below)"
    server_log x
    return 0
  fi
  local host="127.0.0.1:$PORT"
  if ! s2sd ly token issue --partner Exchange --host "$host" --user "smtp:$X_USER" >"$T/ews-act-as.jwt" ||
    ! s2sd ly token issue --partner Exchange --host "$host" >"$T/ews-lync-app.jwt" ||
    ! s2sd rd token issue --partner Exchange --host "$host" >"$T/ews-reader.jwt" ||
    ! s2sd ar token issue --partner Exchange --host "$host" >"$T/ews-archiver.jwt"; then
    not_ok "exchangelib: s2sd token issue for Exchange at $host" "the command failed"
    server_log ly
    return 0
  fi
  local rc=0
  timeout 120 "$PY" "$HERE/exchangelib_check.py" \
    --endpoint "https://$host/EWS/Exchange.asmx" \
    --cafile "$T/x-tls/tls.crt" \
    --user "$X_USER" \
    --act-as-token "$T/ews-act-as.jwt" \
    --impersonation-token "$T/ews-lync-app.jwt" \
    --denied-token "$T/ews-reader.jwt" \
    --archive-token "$T/ews-archiver.jwt" >"$T/exchangelib.out" 2>&1 || rc=$?
  tally "exchangelib: exchangelib_check.py" "$T/exchangelib.out" "$rc"
  # What landed: the CLI sees the archived item, and the round trips left nothing behind.
  local items
  items="$(s2sd x mailbox item list --user "$X_USER" --output json)" || items=""
  if [[ "$(printf '%s' "$items" | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(sorted({i["folder"] for i in d}))' 2>/dev/null)" == "['archivemsgfolderroot']" ]]; then
    ok "exchangelib: s2sd mailbox item list shows only the archived item left in $X_USER's mailbox"
  else
    not_ok "exchangelib: s2sd mailbox item list after the checks" "unexpected items: ${items:-(command failed)}"
    server_log x
  fi
}

# ---------------------------------------------------------------------------------------------
# Check 5: node-sp-auth's online add-in strategy (client id + client secret) against node C, an
# s2sd authorization server (the ACS role) with tenant B_REALM, and server B as the resource
# server: realm discovery by B's challenge, C's tenant metadata (node-sp-auth hard-codes the ACS
# host; node/online.js points it at C through node-sp-auth's setup() hook), a token from C's
# /<realm>/tokens/OAuth/2, then B's /s2s/whoami.

ONLINE_ID="$(python3 -c 'import uuid; print(uuid.uuid4())')"
SHAREPOINT_ID=00000003-0000-0ff1-ce00-000000000000
C_UP=0
B_TRUSTS_C=0

setup_authority() { # configures and starts node C; sets C_PORT; returns non-zero on failure
  s2sd c oauth-config set --realm "$B_REALM" --service-name 00000001-0000-0000-c000-000000000000 >/dev/null &&
    s2sd c certificate new >/dev/null &&
    s2sd c tenant new --realm "$B_REALM" --name "Interop tenant" >/dev/null &&
    s2sd c service-principal new --tenant "$B_REALM" --app-id sharepoint --display-name SharePoint \
      --spn "$SHAREPOINT_ID/127.0.0.1" >/dev/null &&
    s2sd c service-principal new --tenant "$B_REALM" --app-id "$ONLINE_ID" --display-name OnlineAddin >/dev/null &&
    s2sd c service-principal credential add --tenant "$B_REALM" --app-id "$ONLINE_ID" --type symmetric \
      --output json >"$T/online-secret.json" || return 1
  start_server c || return 1
  C_PORT="$PORT"
}

# The resource server's trust in the authority: `s2sd auth-server new` (C's tenant metadata) and
# the add-in as a partner application that takes its tokens from it (`--use-auth-server`). A binary
# without `auth-server` gets the whoami step reported as `# SKIP waiting for auth-server new`.
trust_authority() { # trust_authority: 0 when B now trusts C, 1 when the commands do not exist yet
  "$S2SD" auth-server --help >/dev/null 2>&1 || return 1
  s2sd b auth-server new --name LitwareAuthority \
    --metadata-url "https://127.0.0.1:$C_PORT/$B_REALM/metadata/json/1" --tls-ca "$T/c-tls/tls.crt" >/dev/null &&
    s2sd b partner-application new --identity OnlineAddin --application-identifier "$ONLINE_ID" \
      --realm "$B_REALM" --use-auth-server >/dev/null
}

run_online() { # run_online <check name> <accept|reject> <client secret> <check|skip>
  local rc=0
  SITE_URL="https://127.0.0.1:$B_PORT/" CLIENT_ID="$ONLINE_ID" CLIENT_SECRET="$3" AUTH_HOST="127.0.0.1:$C_PORT" \
    EXPECT_REALM="$B_REALM" EXPECT_PARTNER=OnlineAddin WHOAMI="$4" NODE_EXTRA_CA_CERTS="$T/b-tls/tls.crt" \
    timeout 60 node "$HERE/node/online.js" "$1" "$2" >"$T/online.out" 2>&1 || rc=$?
  tally "$1" "$T/online.out" "$rc"
}

check_node_sp_auth_online() {
  if ! setup_authority; then
    not_ok "node-sp-auth online: configure and serve node C (authority, tenant $B_REALM)" "an s2sd step failed"
    server_log c
    return 0
  fi
  C_UP=1
  local secret whoami=skip
  secret="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["secret"])' "$T/online-secret.json")"
  if trust_authority; then
    whoami=check
    B_TRUSTS_C=1
  elif "$S2SD" auth-server --help >/dev/null 2>&1; then
    not_ok "node-sp-auth online: server B trusts authority C (auth-server new, --use-auth-server)" "an s2sd command failed"
    server_log b
    return 0
  fi
  # Both nodes must run what the CLI just configured before a client calls them.
  caught_up c "$C_PORT" && caught_up b "$B_PORT" || true
  run_online "node-sp-auth online (OnlineAddinOnly)" accept "$secret" "$whoami"
  run_online "node-sp-auth online: negative control, a wrong client secret gets no token" reject "not-the-secret" skip
  # The authority tells why it refuses, with the command that fixes it.
  local answer
  answer="$(curl -s --max-time 5 --cacert "$T/c-tls/tls.crt" "https://127.0.0.1:$C_PORT/$B_REALM/tokens/OAuth/2" \
    --data-urlencode grant_type=client_credentials --data-urlencode "client_id=$ONLINE_ID@$B_REALM" \
    --data-urlencode "client_secret=$secret" \
    --data-urlencode "resource=$SHAREPOINT_ID/other.example@$B_REALM")" || answer=""
  if [[ "$answer" == *'"error":"invalid_resource"'*'spn add'* ]]; then
    ok "node-sp-auth online: a resource without an SPN is refused with invalid_resource naming spn add"
  else
    not_ok "node-sp-auth online: a resource without an SPN" "unexpected answer: ${answer:-(curl failed)}"
  fi
}

# ---------------------------------------------------------------------------------------------
# Check 6: Office365-REST-Python-Client's ACS client-secret provider (ACSTokenProvider) with
# node C as the authority and server B (SharePoint, realm = C's tenant) as the resource: realm
# discovery by B's challenge to a HEAD with an empty bearer, a token request with scope + resource
# to C (the library's login endpoint table entry for the global cloud points at C), then B's
# /s2s/whoami with the header the provider sets. The client is its own service principal on C
# with a generated secret, and B's partner application for it takes its tokens from C.

O365_ID="$(python3 -c 'import uuid; print(uuid.uuid4())')"

check_office365() {
  if ! {
    s2sd c service-principal new --tenant "$B_REALM" --app-id "$O365_ID" --display-name Office365Client >/dev/null &&
      s2sd c service-principal credential add --tenant "$B_REALM" --app-id "$O365_ID" --type symmetric \
        --output json >"$T/o365-secret.json" &&
      s2sd b partner-application new --identity Office365Client --application-identifier "$O365_ID" \
        --realm "$B_REALM" --use-auth-server >/dev/null &&
      caught_up c "$C_PORT" && caught_up b "$B_PORT"
  }; then
    not_ok "office365: client $O365_ID on authority C (secret) and as partner of B (--use-auth-server)" \
      "an s2sd command failed, or a server did not apply it within 5 s"
    server_log c
    server_log b
    return 0
  fi
  local secret mode rc
  secret="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["secret"])' "$T/o365-secret.json")"
  for mode in accept reject; do
    rc=0
    timeout 60 "$PY" "$HERE/office365_check.py" \
      "office365 ACSTokenProvider$([[ $mode == reject ]] && echo ': negative control, a wrong client secret')" "$mode" \
      --site-url "https://127.0.0.1:$B_PORT/" --authority "https://127.0.0.1:$C_PORT" \
      --client-id "$O365_ID" --client-secret "$([[ $mode == accept ]] && echo "$secret" || echo not-the-secret)" \
      --expect-realm "$B_REALM" --expect-partner Office365Client \
      --ca "127.0.0.1:$B_PORT=$T/b-tls/tls.crt" --ca "127.0.0.1:$C_PORT=$T/c-tls/tls.crt" >"$T/o365.out" 2>&1 || rc=$?
    tally "office365: office365_check.py $mode" "$T/o365.out" "$rc"
  done
}

# ---------------------------------------------------------------------------------------------
# Check 7: exchangelib with the client-credentials grant: node E is an Exchange node in C's
# tenant (realm B_REALM) trusting C; a daemon client (service principal with a secret on C) is E's
# partner EwsDaemon (--use-auth-server) with linked account ews-app holding UserApplication.
# exchangelib fetches its token from C itself (OAuth2Credentials, BackendApplicationClient) and
# impersonates kenmyer on E's EWS.

CC_ID="$(python3 -c 'import uuid; print(uuid.uuid4())')"
E_USER="kenmyer@litwareinc.com"

setup_exchange_cc() { # configures C (Exchange principal, daemon client) and E, starts E; sets E_PORT
  s2sd c service-principal new --tenant "$B_REALM" --app-id "$EXCHANGE_ID" --display-name Exchange \
    --spn "$EXCHANGE_ID/127.0.0.1" >/dev/null &&
    s2sd c service-principal new --tenant "$B_REALM" --app-id "$CC_ID" --display-name EwsDaemon >/dev/null &&
    s2sd c service-principal credential add --tenant "$B_REALM" --app-id "$CC_ID" --type symmetric \
      --output json >"$T/cc-secret.json" &&
    s2sd e oauth-config set --realm "$B_REALM" --service-name "$EXCHANGE_ID" >/dev/null &&
    s2sd e certificate new >/dev/null &&
    s2sd e auth-server new --name InteropAuthority \
      --metadata-url "https://127.0.0.1:$C_PORT/$B_REALM/metadata/json/1" --tls-ca "$T/c-tls/tls.crt" >/dev/null &&
    s2sd e mailbox user new --smtp "$E_USER" --display-name "Ken Myer" >/dev/null &&
    s2sd e mailbox user new --smtp "ews-app@litwareinc.com" >/dev/null &&
    s2sd e role-assignment new --role UserApplication --user "ews-app@litwareinc.com" >/dev/null &&
    s2sd e partner-application new --identity EwsDaemon --application-identifier "$CC_ID" --realm "$B_REALM" \
      --use-auth-server --linked-account "ews-app@litwareinc.com" >/dev/null &&
    caught_up c "$C_PORT" || return 1
  start_server e || return 1
  E_PORT="$PORT"
}

check_exchangelib_cc() {
  if ! setup_exchange_cc; then
    not_ok "exchangelib client credentials: configure authority C and Exchange node E (tenant $B_REALM)" "an s2sd step failed"
    server_log c
    server_log e
    return 0
  fi
  local secret token_url="https://127.0.0.1:$C_PORT/$B_REALM/tokens/OAuth/2" answer rc=0
  secret="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["secret"])' "$T/cc-secret.json")"
  # exchangelib's own default scope is a URL (https://outlook.office365.com/.default); what the
  # authority answers to it, as a diagnostic: the check below uses the resource form instead.
  answer="$(curl -s --max-time 5 --cacert "$T/c-tls/tls.crt" "$token_url" \
    --data-urlencode grant_type=client_credentials --data-urlencode "client_id=$CC_ID" \
    --data-urlencode "client_secret=$secret" --data-urlencode "scope=https://outlook.office365.com/.default")" || answer=""
  echo "# exchangelib's default scope https://outlook.office365.com/.default gets: ${answer:-(curl failed)}"
  timeout 120 "$PY" "$HERE/exchangelib_cc_check.py" \
    --endpoint "https://127.0.0.1:$E_PORT/EWS/Exchange.asmx" --token-url "$token_url" \
    --scope "$EXCHANGE_ID/127.0.0.1@$B_REALM/.default" --client-id "$CC_ID" --client-secret "$secret" \
    --wrong-secret not-the-secret --realm "$B_REALM" --user "$E_USER" \
    --ca "127.0.0.1:$C_PORT=$T/c-tls/tls.crt" --ca "127.0.0.1:$E_PORT=$T/e-tls/tls.crt" >"$T/exchangelib-cc.out" 2>&1 || rc=$?
  tally "exchangelib client credentials: exchangelib_cc_check.py" "$T/exchangelib-cc.out" "$rc"
  local items
  items="$(s2sd e mailbox item list --user "$E_USER" --output json)" || items=""
  if [[ "$items" == "[]" ]]; then
    ok "exchangelib client credentials: s2sd mailbox item list shows nothing left in $E_USER's mailbox on E"
  else
    not_ok "exchangelib client credentials: s2sd mailbox item list on E afterwards" "unexpected items: ${items:-(command failed)}"
    server_log e
  fi
}

check_pyjwt
setup_b
if [[ $B_UP -eq 1 ]]; then
  check_node_sp_auth
  check_realm_discovery
  check_node_sp_auth_online
  if [[ $C_UP -eq 1 && $B_TRUSTS_C -eq 1 ]]; then
    check_office365
  else
    skip "office365 ACSTokenProvider" "server B does not trust authority C (no auth-server new, or node C is down)"
  fi
fi
check_exchangelib
if [[ $C_UP -eq 1 ]]; then
  check_exchangelib_cc
else
  skip "exchangelib client credentials" "authority C is not up (reported above)"
fi

finish
