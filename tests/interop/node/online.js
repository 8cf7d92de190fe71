#!/usr/bin/env node
// node-sp-auth's SharePoint Online add-in-only strategy (client id + client secret) against an
// s2sd authorization server (the ACS role) and an s2sd resource server.
//
// What node-sp-auth does (lib/src/auth/resolvers/OnlineAddinOnly.js), and what this script checks:
//   1. realm discovery: POST <site>/_vti_bin/client.svc with `Authorization: Bearer ` → 401, and
//      it slices 36 characters after `Bearer realm="` of the challenge (we pass no `realm` option);
//   2. GET https://accounts.accesscontrol.windows.net/metadata/json/1?realm=<realm> — the host is
//      hard-coded, so node-sp-auth's own setup() hook (got `beforeRequest`) points it at s2sd —
//      and takes the location of the endpoint with protocol OAuth2;
//   3. POST there: grant_type=client_credentials, client_id=<id>@<realm>, client_secret,
//      resource=00000003-0000-0ff1-ce00-000000000000/<site hostname>@<realm>; reads access_token
//      and expires_in;
//   4. (this script) GET <site>/s2s/whoami with the token.
//
// usage: node online.js <name> <expect: accept|reject>
//   env: SITE_URL CLIENT_ID CLIENT_SECRET AUTH_HOST (host:port of the authority) EXPECT_REALM
//        [EXPECT_PARTNER] [WHOAMI=check|skip] and NODE_EXTRA_CA_CERTS=<the resource server's TLS
//        certificate> for the whoami call (node-sp-auth's own requests skip TLS verification).
// Prints `ok - <name>…` / `not ok - <name>: <why>` lines (diagnostics start with `#`, never a
// signature or the secret).
'use strict';

const https = require('https');
const spauth = require('node-sp-auth');

const [name, expect] = process.argv.slice(2);
const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const ACS_HOST = 'accounts.accesscontrol.windows.net';

const seen = [];
spauth.setup({
  requestOptions: {
    hooks: {
      beforeRequest: [
        (options) => {
          if (options.url.hostname === ACS_HOST) {
            options.url.host = env('AUTH_HOST');
          }
          seen.push(`${options.method} ${options.url.pathname}${options.url.search}`);
        },
      ],
    },
  },
});

function claimsOf(authorization) {
  const token = String(authorization || '').replace(/^Bearer\s+/i, '');
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    return {
      header: JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8')),
      claims: JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')),
    };
  } catch (e) {
    return null;
  }
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
  const realm = env('EXPECT_REALM');
  const clientId = env('CLIENT_ID');
  // Bounded: node-sp-auth waits forever when the metadata lists no OAuth2 endpoint.
  const auth = await Promise.race([
    spauth.getAuth(siteUrl, { clientId, clientSecret: env('CLIENT_SECRET') }),
    new Promise((_, reject) => setTimeout(() => reject(new Error('getAuth did not finish within 20 s')), 20000)),
  ]);
  const decoded = claimsOf(auth.headers && auth.headers.Authorization);
  console.log(`# requests node-sp-auth made: ${JSON.stringify(seen)}`);

  if (expect === 'reject') {
    if (decoded === null) {
      console.log(`ok - ${name}`);
      return 0;
    }
    console.log(`not ok - ${name}: a token was issued: ${JSON.stringify(decoded.claims)}`);
    return 1;
  }

  const host = new URL(siteUrl).hostname;
  const c = decoded && decoded.claims;
  const problems = [];
  if (!c) problems.push(`no token in ${JSON.stringify(auth.headers)}`);
  else {
    const want = {
      iss: `00000001-0000-0000-c000-000000000000@${realm}`,
      aud: `00000003-0000-0ff1-ce00-000000000000/${host}@${realm}`,
      nameid: `${clientId}@${realm}`,
    };
    for (const [k, v] of Object.entries(want)) {
      if (c[k] !== v) problems.push(`${k} is ${JSON.stringify(c[k])}, expected ${JSON.stringify(v)}`);
    }
    if (!seen.some((s) => s.startsWith('POST /_vti_bin/client.svc'))) problems.push('no realm discovery happened');
    if (!seen.some((s) => s === `GET /metadata/json/1?realm=${realm}`)) problems.push('the ACS metadata was not fetched');
  }
  if (problems.length) {
    console.log(`not ok - ${name}: realm discovery + token: ${problems.join('; ')}`);
    return 1;
  }
  console.log(`ok - ${name}: realm discovered by challenge, token from the s2sd authority`);
  console.log(`# token header ${JSON.stringify(decoded.header)} claims ${JSON.stringify(c)}`);

  if (process.env.WHOAMI !== 'check') {
    // waiting for `s2sd auth-server new` / `partner-application new --use-auth-server` (the
    // resource server cannot trust the authority without them).
    console.log(`ok - ${name}: token accepted by /s2s/whoami # SKIP waiting for auth-server new`);
    return 0;
  }
  const res = await get(new URL('s2s/whoami', siteUrl).toString(), Object.assign({ Accept: 'application/json' }, auth.headers));
  let json = null;
  try {
    json = JSON.parse(res.body);
  } catch (e) {
    /* reported below */
  }
  const partner = process.env.EXPECT_PARTNER || '';
  if (res.status === 200 && json && json.partner === partner) {
    console.log(`ok - ${name}: token accepted by /s2s/whoami`);
    console.log(`# whoami: ${JSON.stringify(json)}`);
    return 0;
  }
  console.log(`not ok - ${name}: token accepted by /s2s/whoami: expected 200 with partner ${JSON.stringify(partner)}, ` +
    `got HTTP ${res.status}; x-ms-diagnostics: ${res.headers['x-ms-diagnostics'] || '(none)'}`);
  console.log(`# body: ${res.body.slice(0, 600)}`);
  return 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.log(`not ok - ${name}: ${err && err.stack ? err.stack.split('\n')[0] : err}`);
    console.log(`# requests node-sp-auth made: ${JSON.stringify(seen)}`);
    process.exit(1);
  },
);
