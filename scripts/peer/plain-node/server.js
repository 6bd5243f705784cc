// Benchmark peer: a plain Node `http` server (one thread, no dependencies) answering what
// brain-mcp's HTTP path answers for the two rows it is measured on (scripts/bench.sh):
//
// - GET /healthz: 200, Content-Type: application/json, {"status":"ok"}.
// - POST /oauth/token, grant_type=client_credentials, exactly as brain-mcp's: the body capped
//   at 64 KiB (413), Content-Type must be application/x-www-form-urlencoded (400), a repeated
//   parameter is a 400, client authentication by `client_secret_basic` (Authorization:
//   Basic, RFC 6749 §2.3.1 form-encoded id and secret) or `client_secret_post` (both at once:
//   400), the secret compared in constant time over SHA-256 digests, 401 invalid_client with
//   `WWW-Authenticate: Basic` on a wrong one. The token is `bma_` and 32 random bytes in
//   base64url, kept in a Map with its expiry; as brain-mcp does, one client holds at most
//   100 live tokens (issuing one more drops its oldest), so memory stays flat under load.
//   The response has brain-mcp's headers (Cache-Control: no-store, Pragma: no-cache, the
//   CORS pair) and its JSON, keys in the same order.
// What it does not do that brain-mcp does: write each token's hash to a log file, log each
// request, or limit failed authentications per address.
//
// Env: PORT (required), OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET.
import { createServer } from 'node:http';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const PORT = Number(process.env.PORT);
const CLIENT_ID = process.env.OAUTH_CLIENT_ID ?? '';
const CLIENT_SECRET = process.env.OAUTH_CLIENT_SECRET ?? '';
const TTL = 3600;
const BODY_CAP = 64 * 1024;
const MAX_LIVE_PER_CLIENT = 100;

const sha256 = (s) => createHash('sha256').update(s).digest();
const ID_HASH = sha256(CLIENT_ID);
const SECRET_HASH = sha256(CLIENT_SECRET);

const tokens = new Map(); // token -> { client, exp (unix seconds) }
const issued = new Map(); // client -> tokens in issue order

const HEALTH = JSON.stringify({ status: 'ok' });
const TOKEN_HEADERS = {
  'Content-Type': 'application/json',
  'Cache-Control': 'no-store',
  Pragma: 'no-cache',
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Expose-Headers': 'WWW-Authenticate',
};

function send(res, status, headers, body) {
  res.writeHead(status, { ...headers, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function oauthError(res, status, error, description, extra = {}) {
  send(res, status, { ...TOKEN_HEADERS, ...extra }, JSON.stringify({ error, error_description: description }));
}

const invalidClient = (res) =>
  oauthError(res, 401, 'invalid_client', 'client authentication failed', { 'WWW-Authenticate': 'Basic realm="brain-mcp"' });

// RFC 6749 §2.3.1 / RFC 7617: Basic base64(urlencode(id) ":" urlencode(secret)).
function decodeBasic(header) {
  const m = /^\s*basic\s+(\S+)\s*$/i.exec(header);
  if (!m) return null;
  const raw = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = raw.indexOf(':');
  if (colon < 0) return null;
  try {
    const dec = (s) => decodeURIComponent(s.replace(/\+/g, ' '));
    const id = dec(raw.slice(0, colon));
    const secret = dec(raw.slice(colon + 1));
    return id && secret ? { id, secret } : null;
  } catch {
    return null;
  }
}

function token(req, res, body) {
  const ct = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (ct !== 'application/x-www-form-urlencoded') {
    return oauthError(res, 400, 'invalid_request', 'Content-Type must be application/x-www-form-urlencoded');
  }
  const form = new Map();
  for (const [k, v] of new URLSearchParams(body)) {
    if (k === 'resource') continue;
    if (form.has(k)) return oauthError(res, 400, 'invalid_request', `parameter "${k}" is repeated`);
    form.set(k, v);
  }
  const get = (k) => form.get(k) || undefined;
  if (!get('grant_type')) return oauthError(res, 400, 'invalid_request', 'grant_type is required');
  let id;
  let secret;
  const auth = req.headers.authorization;
  if (auth !== undefined) {
    const basic = decodeBasic(auth);
    if (!basic) return invalidClient(res);
    if (get('client_secret')) {
      return oauthError(res, 400, 'invalid_request', 'client credentials were sent both in the Authorization header and in the body; use one');
    }
    ({ id, secret } = basic);
  } else {
    id = get('client_id');
    secret = get('client_secret');
    if (!id || !secret) return invalidClient(res);
  }
  const idOk = timingSafeEqual(sha256(id), ID_HASH);
  const secretOk = timingSafeEqual(sha256(secret), SECRET_HASH);
  if (!(idOk && secretOk)) return invalidClient(res);
  const grant = get('grant_type');
  if (grant !== 'client_credentials') {
    return oauthError(res, 400, 'unsupported_grant_type', `grant_type ${JSON.stringify(grant)} is not supported here; use client_credentials`);
  }
  const access = 'bma_' + randomBytes(32).toString('base64url');
  tokens.set(access, { client: id, exp: Math.floor(Date.now() / 1000) + TTL });
  let mine = issued.get(id);
  if (!mine) issued.set(id, (mine = []));
  mine.push(access);
  if (mine.length > MAX_LIVE_PER_CLIENT) tokens.delete(mine.shift());
  send(res, 200, TOKEN_HEADERS, JSON.stringify({ access_token: access, expires_in: TTL, scope: 'mcp', token_type: 'Bearer' }));
}

const server = createServer({ keepAliveTimeout: 5000 }, (req, res) => {
  const path = req.url.split('?')[0];
  if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
    return send(res, 200, { 'Content-Type': 'application/json' }, HEALTH);
  }
  if (path === '/oauth/token' && req.method === 'POST') {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > BODY_CAP) {
      res.shouldKeepAlive = false;
      return oauthError(res, 413, 'invalid_request', `request body too large: the limit here is ${BODY_CAP} bytes`);
    }
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size <= BODY_CAP) chunks.push(c);
    });
    req.on('end', () => {
      if (size > BODY_CAP) return oauthError(res, 413, 'invalid_request', 'request body too large');
      token(req, res, Buffer.concat(chunks).toString('utf8'));
    });
    return;
  }
  send(res, 404, { 'Content-Type': 'application/json' }, JSON.stringify({ error: 'not_found', error_description: 'no such endpoint' }));
});
server.listen(PORT, '127.0.0.1');
