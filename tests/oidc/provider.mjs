// A real OpenID provider for brain-mcp's tests: the npm package oidc-provider (a certified
// OpenID Connect implementation), configured the way a small deployment would be, on
// 127.0.0.1 with plain HTTP. Nothing here imitates brain-mcp; it plays the provider's role.
//
//   node provider.mjs [--port N] [--alg ES256|RS256]
//
// Prints one line `issuer http://127.0.0.1:PORT` on stdout once it listens, then serves until
// killed. Its signing keys are generated at start (an RSA-2048 key `rs1` and a P-256 key
// `es1`); access tokens are JWTs (RFC 9068, `typ: at+jwt`) signed with --alg.
//
// Clients (clients.mjs; confidential, client_secret_basic or client_secret_post):
//   machine   client_credentials, for any resource (scope "mcp")
//   webapp    authorization_code with PKCE, openid email, for any resource;
//             redirect_uri http://127.0.0.1/callback
// Sign-in is automatic: every authorization request logs in the account "alice"
// (email alice@example.com, verified) and grants what was asked. A test drives it with
// plain HTTP requests (see login.mjs); no browser is needed.
import http from 'node:http';
import { generateKeyPair, exportJWK } from 'jose';
import Provider from 'oidc-provider';
import { MACHINE_ID, MACHINE_SECRET, WEBAPP_ID, WEBAPP_SECRET } from './clients.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const port = Number(opt('port', '0'));
const alg = opt('alg', 'ES256');

async function signingKey(kind, kid) {
  const { privateKey } = kind === 'RS256'
    ? await generateKeyPair('RS256', { modulusLength: 2048, extractable: true })
    : await generateKeyPair('ES256', { extractable: true });
  return { ...(await exportJWK(privateKey)), kid, alg: kind, use: 'sig' };
}

const keys = [await signingKey('RS256', 'rs1'), await signingKey('ES256', 'es1')];

let handler = (_req, res) => {
  res.statusCode = 503;
  res.end();
};
const server = http.createServer((req, res) => handler(req, res));
await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const accounts = {
  alice: { sub: 'alice', email: 'alice@example.com', email_verified: true },
};

const provider = new Provider(issuer, {
  jwks: { keys },
  clients: [
    {
      client_id: MACHINE_ID,
      client_secret: MACHINE_SECRET,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
    },
    {
      client_id: WEBAPP_ID,
      client_secret: WEBAPP_SECRET,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/callback'],
      id_token_signed_response_alg: alg,
    },
  ],
  findAccount: async (_ctx, id) => accounts[id] && {
    accountId: id,
    claims: async () => accounts[id],
  },
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  scopes: ['openid', 'email', 'mcp'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // Every resource is served, with scope "mcp": brain-mcp's URL is only known once it
      // has bound its port, after this provider started.
      getResourceServerInfo: async (_ctx, resourceIndicator) => ({
        scope: 'mcp',
        audience: resourceIndicator,
        accessTokenTTL: 300,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg } },
      }),
      useGrantedResource: async () => true,
    },
  },
  pkce: { required: () => true },
  ttl: { IdToken: 300, AccessToken: 300, ClientCredentials: 300, Grant: 300, Session: 300, Interaction: 300, AuthorizationCode: 60 },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  // Plain HTTP on loopback: cookies cannot be Secure.
  cookies: { keys: ['test-cookie-key-0123456789'], long: { secure: false }, short: { secure: false } },
});

// The automatic sign-in: log in alice, then grant every scope and resource asked for.
async function interaction(req, res) {
  try {
    const details = await provider.interactionDetails(req, res);
    const { prompt, params, session } = details;
    let result;
    if (prompt.name === 'login') {
      result = { login: { accountId: 'alice' } };
    } else {
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
      grant.addOIDCScope(String(params.scope ?? 'openid'));
      if (params.resource) {
        for (const r of [].concat(params.resource)) grant.addResourceScope(r, 'mcp');
      }
      result = { consent: { grantId: await grant.save() } };
    }
    await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
  } catch (e) {
    res.statusCode = 500;
    res.end(String(e?.message ?? e));
  }
}

const callback = provider.callback();
handler = (req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res);
  } else {
    callback(req, res);
  }
};
provider.on('server_error', (_ctx, err) => console.error('server_error', err));
console.log(`issuer ${issuer}`);
