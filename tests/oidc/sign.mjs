// Signs test tokens with Node's own crypto (OpenSSL), for the Dex-shaped tests in
// tests/oidc.rs: RSA keys of any size (ring, which brain-mcp verifies with, cannot make
// them), and the forgeries a verifier must refuse.
//
//   node sign.mjs < jobs.json > out.json
//
// jobs.json: {"keys": [{"name": "a", "bits": 2048}, ...],
//             "tokens": [{"key": "a", "how": "RS256" | "HS256-public-pem", "header": "<raw JSON>",
//                         "payload": "<raw JSON>"}, ...]}
// out.json:  {"jwks": {"a": {"kty":"RSA","n":...,"e":...}, ...}, "tokens": ["...", ...]}
// header and payload are signed exactly as given (so a test can send duplicate members).
import crypto from 'node:crypto';

let input = '';
for await (const chunk of process.stdin) input += chunk;
const jobs = JSON.parse(input);

const keys = {};
const jwks = {};
for (const k of jobs.keys) {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: k.bits });
  keys[k.name] = { privateKey, publicKey };
  const { kty, n, e } = publicKey.export({ format: 'jwk' });
  jwks[k.name] = { kty, n, e };
}

const b64 = (s) => Buffer.from(s).toString('base64url');
const tokens = jobs.tokens.map((t) => {
  const input = `${b64(t.header)}.${b64(t.payload)}`;
  const key = keys[t.key];
  let sig;
  if (t.how === 'RS256') {
    sig = crypto.sign('sha256', Buffer.from(input), key.privateKey);
  } else if (t.how === 'HS256-public-pem') {
    // The classic key confusion: the RSA public key, as PEM, used as an HMAC secret.
    const pem = key.publicKey.export({ format: 'pem', type: 'spki' });
    sig = crypto.createHmac('sha256', pem).update(input).digest();
  } else {
    throw new Error(`unknown signing method ${t.how}`);
  }
  return `${input}.${sig.toString('base64url')}`;
});
process.stdout.write(JSON.stringify({ jwks, tokens }));
