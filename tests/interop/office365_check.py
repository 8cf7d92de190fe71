"""Office365-REST-Python-Client's ACS client-secret provider against s2sd.

The provider (`office365.runtime.auth.providers.acs_token_provider.ACSTokenProvider`) does, by itself:
`HEAD <site>` with `Authorization: Bearer` (no token) and takes the realm from the FIRST parameter of
the `WWW-Authenticate` challenge; then `POST <login authority>/<realm>/tokens/OAuth/2` with
`grant_type=client_credentials`, `client_id=<id>@<realm>`, `client_secret`, and both
`scope` and `resource` = `00000003-0000-0ff1-ce00-000000000000/<site host>@<realm>`. The login
authority comes from the library's table `office365.azure_env._ENDPOINTS` (global cloud:
https://login.microsoftonline.com); this script points that entry at the s2sd authority.
The token is then put on a request by the provider's own `authenticate_request`, and sent to the
resource node's `/s2s/whoami` (the library's own request paths are SharePoint REST, `/_api/…`).

Checks, each printed as `ok - <name>` or `not ok - <name>: <why>`:

  accept: realm discovered by the HEAD challenge, token request carrying scope + resource to the
          s2sd authority, token claims, then whoami answers 200 naming the expected partner.
  reject: a wrong client secret: the provider raises with the authority's OAuth error body.

usage: office365_check.py NAME accept|reject --site-url URL --authority URL --client-id ID
                          --client-secret SECRET --expect-realm REALM [--expect-partner NAME]
      --ca HOST:PORT=PEM (repeatable: each node's own tls.crt, see tls_per_host.py)
"""

import argparse
import json
import sys
import traceback
from urllib.parse import parse_qs, urlparse

import jwt
import requests
import requests.sessions

import office365.azure_env as azure_env
from office365.azure_env import AzureEnvironment
from office365.runtime.auth.client_credential import ClientCredential
from office365.runtime.auth.providers.acs_token_provider import ACSTokenProvider
from office365.runtime.http.request_options import RequestOptions
from tls_per_host import trust_per_host

SHAREPOINT_ID = "00000003-0000-0ff1-ce00-000000000000"
ACS_ID = "00000001-0000-0000-c000-000000000000"
RESULTS = {"ok": 0, "bad": 0}
SENT = []  # (method, url, headers, body) of every request the library made


def ok(name):
    RESULTS["ok"] += 1
    print(f"ok - {name}", flush=True)


def not_ok(name, why):
    RESULTS["bad"] += 1
    print(f"not ok - {name}: {why}", flush=True)


def record_requests():
    """Wraps requests' Session.send so that what the library sends can be asserted on."""
    original = requests.sessions.Session.send

    def send(self, request, **kwargs):
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        SENT.append((request.method, request.url, dict(request.headers), body))
        return original(self, request, **kwargs)

    requests.sessions.Session.send = send


def main():
    p = argparse.ArgumentParser()
    p.add_argument("name")
    p.add_argument("mode", choices=["accept", "reject"])
    p.add_argument("--site-url", required=True)
    p.add_argument("--authority", required=True)
    p.add_argument("--client-id", required=True)
    p.add_argument("--client-secret", required=True)
    p.add_argument("--expect-realm", required=True)
    p.add_argument("--expect-partner", default="")
    p.add_argument("--ca", action="append", default=[])
    a = p.parse_args()
    trust_per_host(a.ca)

    # interop.md: override the login endpoint table entry for the global cloud.
    azure_env._ENDPOINTS[AzureEnvironment.Global]["login"] = a.authority.rstrip("/")
    record_requests()

    provider = ACSTokenProvider(a.site_url, ClientCredential(a.client_id, a.client_secret))
    realm = a.expect_realm
    host = urlparse(a.site_url).hostname
    resource = f"{SHAREPOINT_ID}/{host}@{realm}"
    token_url = f"{a.authority.rstrip('/')}/{realm}/tokens/OAuth/2"

    try:
        token = provider.get_app_only_access_token()
        error = None
    except Exception as e:  # noqa: BLE001 - the reject mode expects it
        token, error = None, e

    # What the library sent: HEAD with an empty bearer, then the token request.
    def describe():
        return "; ".join(f"{m} {u}" for m, u, _, _ in SENT)

    if len(SENT) < 2 or SENT[0][0] != "HEAD" or SENT[0][2].get("Authorization", "").strip() != "Bearer":
        not_ok(f"{a.name}: realm discovery by HEAD with an empty bearer", f"requests sent: {describe()}")
        return
    if SENT[1][0] != "POST" or SENT[1][1] != token_url:
        not_ok(
            f"{a.name}: realm {realm} discovered from the challenge, token requested from the s2sd authority",
            f"expected POST {token_url}; requests sent: {describe()}",
        )
        if error is not None:
            print(f"# {type(error).__name__}: {error}")
        return
    form = {k: v[0] for k, v in parse_qs(SENT[1][3] or "").items()}
    expected_form = {
        "grant_type": "client_credentials",
        "client_id": f"{a.client_id}@{realm}",
        "scope": resource,
        "resource": resource,
    }
    wrong = {k: form.get(k) for k, v in expected_form.items() if form.get(k) != v}
    if wrong:
        not_ok(f"{a.name}: token request carries scope and resource", f"unexpected fields {wrong} (expected {expected_form})")
        return

    if a.mode == "reject":
        body = str(error) if error is not None else ""
        try:
            answer = json.loads(body)
        except ValueError:
            answer = {}
        if token is None and answer.get("error") == "invalid_client" and "invalid client secret" in answer.get("error_description", ""):
            ok(f"{a.name}: the authority refuses with error invalid_client (invalid client secret)")
            print(f"# error_description: {answer.get('error_description')}")
        else:
            not_ok(f"{a.name}", f"expected the provider to raise with an invalid_client body naming the invalid client secret, got token={token!r} error={body!r}")
        return

    name = f"{a.name}: realm {realm} discovered from the HEAD challenge, token from the s2sd authority (scope + resource)"
    if token is None:
        not_ok(name, f"{type(error).__name__}: {error}")
        return
    claims = jwt.decode(token.accessToken, options={"verify_signature": False})
    expected_claims = {"aud": resource, "iss": f"{ACS_ID}@{realm}", "nameid": f"{a.client_id}@{realm}"}
    wrong = {k: claims.get(k) for k, v in expected_claims.items() if claims.get(k) != v}
    if token.tokenType != "Bearer" or wrong or not getattr(token, "expiresIn", None):
        not_ok(name, f"token_type {token.tokenType!r}, expiresIn {getattr(token, 'expiresIn', None)!r}, claims differ: {wrong}")
        return
    ok(name)
    print(f"# token claims: aud={claims['aud']} iss={claims['iss']} nameid={claims['nameid']}")

    # The resource call, with the header the provider itself sets.
    name = f"{a.name}: token accepted by /s2s/whoami (partner {a.expect_partner})"
    options = RequestOptions(a.site_url.rstrip("/") + "/s2s/whoami")
    provider.authenticate_request(options)
    res = requests.get(options.url, headers={**options.headers, "Accept": "application/json"}, timeout=10)
    try:
        who = res.json()
    except ValueError:
        who = None
    if res.status_code == 200 and isinstance(who, dict) and who.get("partner") == a.expect_partner:
        ok(name)
        print(f"# whoami: {json.dumps(who)}")
    else:
        not_ok(name, f"status {res.status_code}, body {res.text[:300]!r}, x-ms-diagnostics {res.headers.get('x-ms-diagnostics')!r}")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001
        not_ok("office365: unexpected error", f"{type(e).__name__}: {e}")
        for line in traceback.format_exc().splitlines()[-8:]:
            print(f"# {line}")
    sys.exit(1 if RESULTS["bad"] else 0)
