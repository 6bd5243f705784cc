// Drives provider.mjs's authorization-code flow as a relying party and a browser would:
// PKCE S256, state and nonce; the browser (browser.mjs) follows the redirects, signs alice in
// on the provider's login form and allows on its consent form; the code is redeemed at the
// token endpoint with client_secret_basic.
//
//   node login.mjs ISSUER RESOURCE
//
// Prints one JSON line: {"id_token", "access_token", "nonce"} (the access token is the JWT the
// provider issues for RESOURCE; the ID token's audience is the client "webapp").
import crypto from 'node:crypto';
import { ACCOUNTS, WEBAPP_ID, WEBAPP_SECRET } from './clients.mjs';
import { Browser, atProvider } from './browser.mjs';

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

const browser = new Browser();
const stop = (u) => u.startsWith(`${redirectUri}?`);
const page = await browser.navigate(auth.toString(), { stop });
const back = await atProvider(browser, page, { user: 'alice', password: ACCOUNTS.alice.password, stop });
if (!back.stopped) throw new Error(`not sent back to ${redirectUri}: ${back.status} ${back.text}`);
const answer = new URL(back.stopped).searchParams;
if (answer.get('state') !== state) throw new Error('state does not match');
if (answer.get('error')) throw new Error(`provider said ${answer}`);
const code = answer.get('code');

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
