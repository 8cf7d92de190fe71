#!/usr/bin/env node
// node-sp-auth's SharePoint on-premise add-in-only strategy against s2sd.
//
// node-sp-auth signs its own RS256 actor token (header x5t copied verbatim from `shaThumbprint`,
// aud 00000003-…/<host:port>@<realm>, trustedfordelegation as a JSON boolean) and hands back
// `Authorization: Bearer …` headers. This script calls `GET <site>/s2s/whoami` with them and checks
// the answer.
//
// One scenario per process: node-sp-auth caches its token per *audience* only, so a second
// getAuth() in the same process for another client id would reuse the first token.
//
// usage: node onprem.js <name> <expect: accept|reject>
//   env: SITE_URL CLIENT_ID REALM KEY_PATH SHA_THUMBPRINT [EXPECT_PARTNER]
//   and NODE_EXTRA_CA_CERTS=<s2sd's TLS certificate> so Node trusts the self-signed server.
// Prints `ok - <name>` or `not ok - <name>: <why>` (diagnostics start with `#`, never a signature).
'use strict';

const https = require('https');
const spauth = require('node-sp-auth');

const [name, expect] = process.argv.slice(2);
const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};

function describe(authorization) {
  // Header and claims of the bearer token; the signature segment is never printed.
  const token = String(authorization || '').replace(/^Bearer\s+/i, '');
  const parts = token.split('.');
  const dec = (s) => {
    try {
      return JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
    } catch (e) {
      return `<undecodable: ${e.message}>`;
    }
  };
  return JSON.stringify({ header: dec(parts[0]), claims: dec(parts[1] || ''), signature_chars: (parts[2] || '').length });
}

function get(url, headers) {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { headers, timeout: 10000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
  });
}

async function main() {
  const siteUrl = env('SITE_URL');
  const realm = env('REALM');
  const clientId = env('CLIENT_ID');
  const auth = await spauth.getAuth(siteUrl, {
    clientId,
    issuerId: clientId, // a non-broker high-trust issuer: issuer id == client id
    realm,
    rsaPrivateKeyPath: env('KEY_PATH'),
    shaThumbprint: env('SHA_THUMBPRINT'),
  });
  const headers = Object.assign({ Accept: 'application/json' }, auth.headers);
  const whoami = new URL('s2s/whoami', siteUrl).toString();
  const res = await get(whoami, headers);
  const diag = () => {
    console.log(`# sent token: ${describe(headers.Authorization)}`);
    console.log(`# answer: HTTP ${res.status}; www-authenticate: ${res.headers['www-authenticate'] || '(none)'}; ` +
      `x-ms-diagnostics: ${res.headers['x-ms-diagnostics'] || '(none)'}`);
    console.log(`# body: ${res.body.slice(0, 600)}`);
  };

  if (expect === 'accept') {
    let json = null;
    try {
      json = JSON.parse(res.body);
    } catch (e) {
      /* reported below */
    }
    const want = process.env.EXPECT_PARTNER || '';
    if (res.status === 200 && json && json.partner === want) {
      console.log(`ok - ${name}`);
      console.log(`# whoami: ${JSON.stringify(json)}`);
      return 0;
    }
    console.log(`not ok - ${name}: expected 200 with partner ${JSON.stringify(want)}, got HTTP ${res.status}` +
      (res.headers['x-ms-diagnostics'] ? ` (x-ms-diagnostics: ${res.headers['x-ms-diagnostics']})` : ''));
    diag();
    return 1;
  }

  const challenge = res.headers['www-authenticate'] || '';
  const prefix = `Bearer realm="${realm}"`;
  if (res.status === 401 && challenge.startsWith(prefix)) {
    console.log(`ok - ${name}`);
    console.log(`# refused as expected; x-ms-diagnostics: ${res.headers['x-ms-diagnostics'] || '(none)'}`);
    return 0;
  }
  console.log(`not ok - ${name}: expected 401 with a challenge starting ${prefix}, got HTTP ${res.status}, ` +
    `www-authenticate ${JSON.stringify(challenge)}`);
  diag();
  return 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.log(`not ok - ${name}: ${err && err.stack ? err.stack.split('\n')[0] : err}`);
    process.exit(1);
  },
);
