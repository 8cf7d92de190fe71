"""Per-host TLS trust for requests, for clients that talk to more than one s2sd node.

Every `s2sd serve --tls-dir` generates a self-signed certificate with the same subject and issuer
(`CN=localhost`) and no key identifiers, so a CA bundle holding two of them verifies only one: OpenSSL
looks issuers up by name and tries the first. Instead, each request gets `verify=<that node's tls.crt>`
chosen by its `host:port`.
"""

from urllib.parse import urlparse

import requests.sessions


def trust_per_host(pairs):
    """pairs: iterable of "host:port=PEM"; patches requests.Session.send for all sessions."""
    cas = dict(p.split("=", 1) for p in pairs)
    original = requests.sessions.Session.send

    def send(self, request, **kwargs):
        ca = cas.get(urlparse(request.url).netloc)
        if ca:
            kwargs["verify"] = ca
        return original(self, request, **kwargs)

    requests.sessions.Session.send = send
