"""exchangelib (PyPI) with the OAuth 2.0 client-credentials grant against s2sd: exchangelib fetches
its token from the s2sd authority's token endpoint, then uses it on the s2sd Exchange node's EWS.

exchangelib's `OAuth2Credentials(client_id, client_secret, tenant_id)` uses oauthlib's
`BackendApplicationClient` through requests-oauthlib (`OAuth2Session.fetch_token`, with
`include_client_id=True`: `grant_type=client_credentials`, `client_id`, `client_secret` and `scope` in
the form body). Its token URL (`https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token`) and
scope (`https://outlook.office365.com/.default`) are properties; the subclass below points them at
the s2sd authority (`/<realm>/tokens/OAuth/2`) and at a scope it issues for,
`<exchange app id>/<host>@<realm>/.default`. oauthlib raises if the answer names another scope.

Checks, each printed as `ok - <name>` or `not ok - <name>: <why>`:

1. token: exchangelib's own fetch_token gets a Bearer token from the authority (the scope in the
   authority's answer, and in exchangelib's token, is the requested one unchanged; expires_in present;
   claims iss/aud/nameid as the authority issues them). Checks are explicit (`require`), never
   `assert`, so they hold under PYTHONOPTIMIZE.
2. with that token and access_type=IMPERSONATION on the user's SMTP address: open Conversation
   History, save a message (CreateItem), find it by subject (FindItem), delete it (DeleteItem) and see it gone.
3. negative control: a wrong client secret gets the authority's OAuth error (invalid_client) and no EWS call.

usage: exchangelib_cc_check.py --endpoint URL --token-url URL --scope SCOPE --client-id ID
                               --client-secret SECRET --wrong-secret SECRET --realm REALM --user SMTP
      --ca HOST:PORT=PEM (repeatable: each node's own tls.crt, see tls_per_host.py)
"""

import argparse
import json
import sys
import traceback
import uuid

import jwt
import requests.adapters
from exchangelib import IMPERSONATION, OAUTH2, Account, Build, Configuration, Mailbox, Message, Version
from exchangelib.credentials import OAuth2Credentials
from exchangelib.protocol import BaseProtocol
from oauthlib.oauth2.rfc6749.clients.base import Client as OAuthClient
from tls_per_host import trust_per_host
from checks import CheckFailed, require

EXCHANGE_ID = "00000002-0000-0ff1-ce00-000000000000"
ACS_ID = "00000001-0000-0000-c000-000000000000"
RESULTS = {"ok": 0, "bad": 0}
# The raw bodies of the token answers oauthlib parsed, in order.
TOKEN_BODIES = []
_parse_token_answer = OAuthClient.parse_request_body_response


def _recording_parse(self, body, *args, **kwargs):
    TOKEN_BODIES.append(body)
    return _parse_token_answer(self, body, *args, **kwargs)


OAuthClient.parse_request_body_response = _recording_parse


def ok(name):
    RESULTS["ok"] += 1
    print(f"ok - {name}", flush=True)


def not_ok(name, why):
    RESULTS["bad"] += 1
    print(f"not ok - {name}: {why}", flush=True)


def step(name, fn):
    """Runs one check; returns its value, or None after reporting the failure."""
    try:
        value = fn()
        ok(name)
        return value
    except Exception as e:  # noqa: BLE001 - every failure is reported, not raised
        not_ok(name, f"{type(e).__name__}: {e}")
        for line in traceback.format_exc().splitlines()[-8:]:
            print(f"# {line}")
        return None


def credentials_class(token_url, scope):
    class S2sClientCredentials(OAuth2Credentials):
        """exchangelib's client-credentials credentials, with the token URL and scope of the s2sd authority."""

        @property
        def token_url(self):
            return token_url

        @property
        def scope(self):
            return [scope]

    return S2sClientCredentials


def account(a, secret):
    cls = credentials_class(a.token_url, a.scope)
    config = Configuration(
        service_endpoint=a.endpoint,
        credentials=cls(client_id=a.client_id, client_secret=secret, tenant_id=a.realm),
        auth_type=OAUTH2,
        version=Version(build=Build(15, 1, 2507, 6)),
        max_connections=1,
    )
    return Account(primary_smtp_address=a.user, config=config, autodiscover=False, access_type=IMPERSONATION)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--token-url", required=True)
    p.add_argument("--scope", required=True)
    p.add_argument("--client-id", required=True)
    p.add_argument("--client-secret", required=True)
    p.add_argument("--wrong-secret", required=True)
    p.add_argument("--realm", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--ca", action="append", default=[])
    a = p.parse_args()
    trust_per_host(a.ca)
    BaseProtocol.HTTP_ADAPTER_CLS = requests.adapters.HTTPAdapter
    host = a.endpoint.split("://", 1)[1].split("/", 1)[0].split(":")[0]

    acct = account(a, a.client_secret)

    def token():
        # Account() made no request; the first EWS call creates the OAuth session, whose
        # fetch_token is exchangelib's own client-credentials request.
        folder = acct.conversation_history
        tok = acct.protocol.credentials.access_token
        require(tok and tok.get("access_token"), f"no access token in the credentials: {tok!r}")
        require(tok.get("token_type") == "Bearer", f"token_type {tok.get('token_type')!r}")
        require(tok.get("expires_in"), "no expires_in")
        # The scope as the authority answered it (oauthlib fills a missing one in from the request,
        # so the token dict alone cannot show it): the requested scope, unchanged.
        require(TOKEN_BODIES, "oauthlib parsed no token answer")
        answered = json.loads(TOKEN_BODIES[-1]).get("scope")
        require(answered == a.scope, f"the authority answered scope {answered!r}, expected {a.scope!r} unchanged")
        granted = tok.get("scope")
        granted = " ".join(granted) if isinstance(granted, (list, tuple)) else granted
        require(granted == a.scope, f"exchangelib holds scope {granted!r}, expected {a.scope!r}")
        claims = jwt.decode(tok["access_token"], options={"verify_signature": False})
        expected = {
            "aud": f"{EXCHANGE_ID}/{host}@{a.realm}",
            "iss": f"{ACS_ID}@{a.realm}",
            "nameid": f"{a.client_id}@{a.realm}",
        }
        wrong = {k: claims.get(k) for k, v in expected.items() if claims.get(k) != v}
        require(not wrong, f"claims differ: {wrong}, expected {expected}")
        print(f"# token: scope={tok.get('scope')} expires_in={tok.get('expires_in')} aud={claims['aud']} nameid={claims['nameid']}")
        return folder

    folder = step(
        "exchangelib client credentials: fetch_token from the s2sd authority (scope unchanged), "
        "then GetFolder conversationhistory by impersonation",
        token,
    )
    if folder is not None:
        subject = f"s2s interop client credentials {uuid.uuid4()}"
        msg = Message(
            account=acct,
            folder=folder,
            subject=subject,
            body="IM conversation saved by exchangelib with a client-credentials token",
            to_recipients=[Mailbox(email_address=a.user)],
        )

        def save():
            require(folder.name == "Conversation History", f"folder is named {folder.name!r}")
            msg.save()
            require(msg.id and msg.changekey, "CreateItem returned no ItemId")
            return True

        def find():
            found = list(folder.filter(subject=subject))
            require([f.id for f in found] == [msg.id], f"FindItem by subject found {[f.id for f in found]}, expected [{msg.id}]")
            return found[0]

        def delete(item):
            item.delete()
            left = list(folder.filter(subject=subject))
            require(not left, f"{len(left)} item(s) still there after DeleteItem")

        if step("exchangelib client credentials: CreateItem in Conversation History", save):
            item = step("exchangelib client credentials: FindItem by subject finds it", find)
            if item is not None:
                step("exchangelib client credentials: DeleteItem, and it is gone", lambda: delete(item))

    def refused():
        from oauthlib.oauth2.rfc6749.errors import OAuth2Error

        bad = account(a, a.wrong_secret)
        try:
            bad.root  # noqa: B018 - the first EWS call fetches the token
        except OAuth2Error as e:
            require(e.error == "invalid_client", f"oauthlib raised {type(e).__name__} error={e.error!r}")
            require("invalid client secret" in (e.description or ""), f"error_description {e.description!r}")
            print(f"# {type(e).__name__}: {e.description}")
            return True
        raise CheckFailed("the mailbox opened with a wrong client secret")

    step("exchangelib client credentials: negative control, a wrong client secret gets invalid_client", refused)
    print(f"# exchangelib client-credentials checks: {RESULTS['ok']} ok, {RESULTS['bad']} not ok")
    return 0 if RESULTS["bad"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
