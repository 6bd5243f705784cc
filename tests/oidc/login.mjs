// Drives provider.mjs's authorization-code flow without a browser, as a relying party would:
// PKCE S256, state and nonce, redirects followed by hand with the provider's cookies, the
// code redeemed at the token endpoint with client_secret_basic.
//
//   node login.mjs ISSUER RESOURCE
//
// Prints one JSON line: {"id_token", "access_token", "nonce"} (the access token is the JWT the
// provider issues for RESOURCE; the ID token's audience is the client "webapp").
import crypto from 'node:crypto';
import { WEBAPP_ID, WEBAPP_SECRET } from './clients.mjs';

const [issuer, resource] = process.argv.slice(2);
if (!issuer || !resource) {
  console.error('usage: node login.mjs ISSUER RESOURCE');
  process.exit(2);
}
const b64url = (buf) => buf.toString('base64url');
const verifier = b64url(crypto.randomBytes(32));
const challenge = b64url(crypto.createHash('sha256').update(verifier).digest());
const state = b64url(crypto.randomBytes(16));
const nonce = b64url(crypto.randomBytes(16));
const redirectUri = 'http://127.0.0.1/callback';

const jar = new Map();
const cookieHeader = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
async function get(url) {
  const res = await fetch(url, { redirect: 'manual', headers: { cookie: cookieHeader() } });
  for (const c of res.headers.getSetCookie()) {
    const [pair] = c.split(';');
    const i = pair.indexOf('=');
    jar.set(pair.slice(0, i), pair.slice(i + 1));
  }
  return res;
}

const auth = new URL(`${issuer}/auth`);
auth.search = new URLSearchParams({
  client_id: WEBAPP_ID,
  response_type: 'code',
  redirect_uri: redirectUri,
  scope: 'openid email',
  resource,
  state,
  nonce,
  code_challenge: challenge,
  code_challenge_method: 'S256',
}).toString();

let url = auth.toString();
let code;
for (let hops = 0; hops < 10 && !code; hops++) {
  const res = await get(url);
  const location = res.headers.get('location');
  if (!location) {
    throw new Error(`no redirect from ${url}: ${res.status} ${await res.text()}`);
  }
  const next = new URL(location, url);
  if (next.origin + next.pathname === redirectUri) {
    if (next.searchParams.get('state') !== state) throw new Error('state does not match');
    if (next.searchParams.get('error')) throw new Error(`provider said ${next.search}`);
    code = next.searchParams.get('code');
  }
  url = next.toString();
}
if (!code) throw new Error('no authorization code after 10 redirects');

const res = await fetch(`${issuer}/token`, {
  method: 'POST',
  headers: {
    authorization: `Basic ${Buffer.from(`${WEBAPP_ID}:${WEBAPP_SECRET}`).toString('base64')}`,
    'content-type': 'application/x-www-form-urlencoded',
  },
  body: new URLSearchParams({
    grant_type: 'authorization_code',
    code,
    redirect_uri: redirectUri,
    code_verifier: verifier,
    resource,
  }),
});
const tokens = await res.json();
if (!res.ok) throw new Error(`token endpoint: ${res.status} ${JSON.stringify(tokens)}`);
console.log(JSON.stringify({ id_token: tokens.id_token, access_token: tokens.access_token, nonce }));
