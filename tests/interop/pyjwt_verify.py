#!/usr/bin/env python3
"""Independent check that tokens minted by s2sd verify with PyJWT + cryptography against the
certificate s2sd publishes in its metadata document (/metadata/json/1).

Reads the metadata the way real clients do (field names and enum values case-insensitively),
rebuilds the certificate from the base64 DER value, checks keyinfo.x5t = base64url(SHA-1(DER))
(no JWT library checks x5t itself), then lets PyJWT verify RS256, audience and lifetime.

Prints one line per check, `ok - <name>` or `not ok - <name>: <why>` (diagnostics start with `#`),
and exits 1 if any check failed. Never prints a token signature.

usage: pyjwt_verify.py --metadata-url URL --cafile PEM --audience AUD
                       --app-only FILE --act-as FILE --expect-sip USER@DOMAIN
"""

import argparse
import base64
import hashlib
import json
import ssl
import sys
import urllib.request

import jwt
from cryptography import x509

RESULTS = []


def report(name, ok, why=""):
    RESULTS.append(ok)
    print(f"ok - {name}" if ok else f"not ok - {name}: {why}", flush=True)


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def ci_get(obj, name, default=None):
    """Case-insensitive member lookup, as .NET's JavaScriptSerializer and the clients do."""
    if not isinstance(obj, dict):
        return default
    for key, value in obj.items():
        if key.lower() == name.lower():
            return value
    return default


def describe(token):
    """Header and claims of a compact JWT, for diagnostics; the signature is never shown."""
    parts = token.split(".")
    out = {}
    for label, seg in zip(("header", "claims"), parts[:2]):
        try:
            out[label] = json.loads(base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4)))
        except Exception as exc:  # noqa: BLE001 - diagnostics only
            out[label] = f"<undecodable: {exc}>"
    claims = out.get("claims")
    if isinstance(claims, dict) and isinstance(claims.get("actortoken"), str):
        claims["actortoken"] = json.loads(describe(claims["actortoken"]))
    out["signature_chars"] = len(parts[2]) if len(parts) > 2 else None
    return json.dumps(out, sort_keys=True)


def fetch_metadata(url, cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    with urllib.request.urlopen(url, context=ctx, timeout=10) as resp:
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}")
        return json.loads(resp.read().decode("utf-8"))


def signing_keys(doc):
    """[(x5t from keyinfo or None, certificate, DER)] for every signing key of type x509Certificate."""
    out = []
    for key in ci_get(doc, "keys", []) or []:
        usage = str(ci_get(key, "usage", "")).lower()
        keyvalue = ci_get(key, "keyValue", {})
        if usage != "signing" or str(ci_get(keyvalue, "type", "")).lower() != "x509certificate":
            continue
        der = base64.b64decode(ci_get(keyvalue, "value"), validate=True)
        cert = x509.load_der_x509_certificate(der)
        out.append((ci_get(ci_get(key, "keyInfo", {}), "x5t"), cert, der))
    return out


def verify_actor(name, token, keys, audience):
    """PyJWT-verifies a signed actor token with the published key its x5t names. Returns claims or None."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        report(name, False, f"header unreadable: {exc}")
        return None
    if header.get("alg") != "RS256":
        report(name, False, f"header alg is {header.get('alg')!r}, expected RS256")
        return None
    x5t = header.get("x5t")
    matching = [(cert, der) for (_, cert, der) in keys if b64url(hashlib.sha1(der).digest()) == x5t]
    if not matching:
        report(name, False, f"header x5t {x5t!r} names no certificate in the metadata")
        print(f"# token: {describe(token)}")
        return None
    cert, _ = matching[0]
    try:
        claims = jwt.decode(
            token,
            cert.public_key(),
            algorithms=["RS256"],
            audience=audience,
            options={"require": ["exp", "aud", "iss"]},
        )
    except jwt.PyJWTError as exc:
        report(name, False, f"PyJWT refused it: {type(exc).__name__}: {exc}")
        print(f"# token: {describe(token)}")
        return None
    report(name, True)
    return claims


def flip_signature_char(token):
    """The token with one character in the middle of its signature replaced by another (changing
    real signature bits: the last character carries unused padding bits, so avoid it)."""
    head, payload, sig = token.split(".")
    i = len(sig) // 2
    repl = "A" if sig[i] != "A" else "B"
    return ".".join((head, payload, sig[:i] + repl + sig[i + 1:]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--metadata-url", required=True)
    ap.add_argument("--cafile", required=True)
    ap.add_argument("--audience", required=True)
    ap.add_argument("--app-only", required=True, help="file holding the app-only actor token")
    ap.add_argument("--act-as", required=True, help="file holding the act-as (outer) token")
    ap.add_argument("--expect-sip", required=True)
    args = ap.parse_args()

    app_only = open(args.app_only, encoding="ascii").read().strip()
    act_as = open(args.act_as, encoding="ascii").read().strip()

    # --- metadata ---
    try:
        doc = fetch_metadata(args.metadata_url, args.cafile)
        keys = signing_keys(doc)
    except Exception as exc:  # noqa: BLE001
        report("pyjwt: metadata fetched over https and its certificate(s) parsed", False, f"{type(exc).__name__}: {exc}")
        return 1
    if not keys:
        report("pyjwt: metadata fetched over https and its certificate(s) parsed", False, "no signing x509Certificate key")
        print(f"# metadata: {json.dumps(doc)[:2000]}")
        return 1
    report("pyjwt: metadata fetched over https and its certificate(s) parsed", True)

    bad = []
    for published, _cert, der in keys:
        computed = b64url(hashlib.sha1(der).digest())
        if published != computed:
            bad.append(f"keyinfo.x5t {published!r} != base64url(SHA-1(DER)) {computed!r}")
    header_x5t = None
    try:
        header_x5t = jwt.get_unverified_header(app_only).get("x5t")
    except jwt.PyJWTError as exc:
        bad.append(f"app-only token header unreadable: {exc}")
    if header_x5t not in [b64url(hashlib.sha1(der).digest()) for (_, _, der) in keys]:
        bad.append(f"token header x5t {header_x5t!r} is not any published key's x5t")
    report("pyjwt: metadata keyinfo.x5t = base64url(SHA-1(DER)) = token header x5t", not bad, "; ".join(bad))

    # --- app-only ---
    verify_actor("pyjwt: app-only actor token verifies (RS256, aud, exp)", app_only, keys, args.audience)

    # --- negative control ---
    tampered = flip_signature_char(app_only)
    name = "pyjwt: negative control, one flipped signature character is refused"
    cert = next((c for (_, c, der) in keys if b64url(hashlib.sha1(der).digest()) == header_x5t), keys[0][1])
    try:
        jwt.decode(tampered, cert.public_key(), algorithms=["RS256"], audience=args.audience)
        report(name, False, "PyJWT accepted a token whose signature was altered")
    except jwt.InvalidSignatureError:
        report(name, True)
    except jwt.PyJWTError as exc:
        report(name, False, f"refused, but not for the signature: {type(exc).__name__}: {exc}")

    # --- act-as ---
    name = "pyjwt: act-as outer token is alg none, iss = actor nameid, carries sip"
    actor_claims = None
    problems = []
    try:
        outer_header = jwt.get_unverified_header(act_as)
        outer = jwt.decode(act_as, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        report(name, False, f"outer token unreadable: {exc}")
        report("pyjwt: act-as embedded actor token verifies (RS256, aud, exp)", False, "no outer token")
        return 1
    if outer_header.get("alg") != "none":
        problems.append(f"outer header alg is {outer_header.get('alg')!r}, expected 'none'")
    if not act_as.endswith(".") or act_as.count(".") != 2:
        problems.append("outer token is not <header>.<payload>. (empty signature segment)")
    actor_text = outer.get("actortoken")
    if not isinstance(actor_text, str):
        problems.append("no string actortoken claim")
        report("pyjwt: act-as embedded actor token verifies (RS256, aud, exp)", False, "no actortoken claim")
    else:
        actor_claims = verify_actor("pyjwt: act-as embedded actor token verifies (RS256, aud, exp)",
                                    actor_text, keys, args.audience)
    if actor_claims is not None:
        if outer.get("iss") != actor_claims.get("nameid"):
            problems.append(f"outer iss {outer.get('iss')!r} != actor nameid {actor_claims.get('nameid')!r}")
        if outer.get("aud") not in (None, args.audience):
            problems.append(f"outer aud {outer.get('aud')!r} != {args.audience!r}")
    if outer.get("sip") != args.expect_sip:
        problems.append(f"sip claim is {outer.get('sip')!r}, expected {args.expect_sip!r}")
    report(name, not problems, "; ".join(problems))
    if problems:
        print(f"# outer: {describe(act_as)}")

    return 0 if all(RESULTS) else 1


if __name__ == "__main__":
    sys.exit(main())
