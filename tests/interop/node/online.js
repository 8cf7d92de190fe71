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
// Prints `ok - <name>…` / `not ok - <name>: <why>` / `skip - <name>: <why>` lines (diagnostics start with `#`, never a
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
// The answers node-sp-auth got from the authority's token endpoint: { status, body }.
const tokenAnswers = [];
const isTokenRequest = (url) => /\/tokens\/OAuth\/2$/.test(url.pathname);
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
      afterResponse: [
        (response) => {
          const url = new URL(response.url || response.requestUrl);
          if (isTokenRequest(url)) {
            const body = response.body;
            tokenAnswers.push({ status: response.statusCode, body: typeof body === 'string' ? body : JSON.stringify(body) });
          }
          return response;
        },
      ],
    },
  },
});

// The requests node-sp-auth must make, in this order: realm discovery on the site, the ACS
// metadata of the realm on the authority, the client-credentials POST to the authority.
function orderProblems(realm) {
  const wanted = [
    ['realm discovery', (s) => s.startsWith('POST /_vti_bin/client.svc')],
    ['the ACS metadata', (s) => s === `GET /metadata/json/1?realm=${realm}`],
    ['the token request', (s) => s === `POST /${realm}/tokens/OAuth/2`],
  ];
  const at = wanted.map(([, match]) => seen.findIndex(match));
  const problems = [];
  wanted.forEach(([what], i) => {
    if (at[i] < 0) problems.push(`${what} was not requested`);
  });
  if (!problems.length && !(at[0] < at[1] && at[1] < at[2])) {
    problems.push(`the requests came in another order: ${JSON.stringify(seen)}`);
  }
  return problems;
}

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
  const getAuth = Promise.race([
    spauth.getAuth(siteUrl, { clientId, clientSecret: env('CLIENT_SECRET') }),
    new Promise((_, reject) => setTimeout(() => reject(new Error('getAuth did not finish within 20 s')), 20000)),
  ]);

  if (expect === 'reject') {
    // node-sp-auth must fail, and the reason must be the authority's 401 invalid_client to its
    // token request, not a failure anywhere else (a wrong URL, a timeout, a TLS error).
    let auth = null;
    let failure = null;
    try {
      auth = await getAuth;
    } catch (e) {
      failure = e;
    }
    console.log(`# requests node-sp-auth made: ${JSON.stringify(seen)}`);
    const decoded = auth && claimsOf(auth.headers && auth.headers.Authorization);
    if (decoded) {
      console.log(`not ok - ${name}: a token was issued: ${JSON.stringify(decoded.claims)}`);
      return 1;
    }
    const problems = orderProblems(realm);
    const last = tokenAnswers[tokenAnswers.length - 1];
    let error = null;
    try {
      error = last && JSON.parse(last.body).error;
    } catch (e) {
      /* reported below */
    }
    if (!last) problems.push('the authority never answered a token request');
    else if (last.status !== 401 || error !== 'invalid_client') {
      problems.push(`the token request got HTTP ${last.status} ${JSON.stringify(last.body.slice(0, 300))}, expected 401 invalid_client`);
    }
    // node-sp-auth 3.0.9 does not fail here: it resolves with an Authorization header holding no
    // token (`Bearer undefined`); what matters is that no token came and why.
    if (failure === null) console.log(`# getAuth resolved with headers ${JSON.stringify(Object.keys(auth.headers || {}))} and no token`);
    if (problems.length) {
      console.log(`not ok - ${name}: ${problems.join('; ')}`);
      if (failure) console.log(`# getAuth failed: ${String(failure && failure.message).split('\n')[0]}`);
      return 1;
    }
    console.log(`ok - ${name}: 401 invalid_client from the authority`);
    return 0;
  }

  const auth = await getAuth;
  const decoded = claimsOf(auth.headers && auth.headers.Authorization);
  console.log(`# requests node-sp-auth made: ${JSON.stringify(seen)}`);

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
    problems.push(...orderProblems(realm));
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
    // A skip, reported as one (run.sh counts `skip - ` lines apart from passes and lists them).
    console.log(`skip - ${name}: token accepted by /s2s/whoami: waiting for auth-server new`);
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
