// A real OpenID provider for brain-mcp's tests: the npm package oidc-provider (a certified
// OpenID Connect implementation), configured the way a small deployment would be, on
// 127.0.0.1 with plain HTTP. Nothing here imitates brain-mcp; it plays the provider's role.
//
//   node provider.mjs [--port N] [--alg ES256|RS256] [--host 127.0.0.1|localhost]
//
// Prints one line `issuer http://HOST:PORT` on stdout once it listens (on 127.0.0.1), then
// serves until killed. --host localhost names the issuer by another host than brain-mcp's
// 127.0.0.1, so that the two are different sites to a browser, as in production. Its
// signing keys are generated at start (an RSA-2048 key `rs1` and a P-256 key `es1`); access
// tokens are JWTs (RFC 9068, `typ: at+jwt`) and ID tokens are signed with --alg.
//
// Clients (clients.mjs; confidential, client_secret_basic or client_secret_post):
//   machine          client_credentials, for any resource (scope "mcp")
//   webapp           authorization_code with PKCE, openid email, for any resource;
//                    redirect_uri http://127.0.0.1/callback
//   brain-mcp-login  brain-mcp's own client for the owner's sign-in: authorization_code
//                    with PKCE, openid email; redirect_uri http://127.0.0.1/oauth/oidc/callback
//                    on any port (application_type native: RFC 8252 §7.3 loopback matching,
//                    because brain-mcp's port is chosen after the provider starts)
// Accounts (clients.mjs): alice and bob, each with a password. Sign-in is interactive, as at
// a real provider: a login form (user name and password), then a consent form (Allow or
// Deny, which answers error=access_denied). Tests drive the forms with browser.mjs.
import http from 'node:http';
import { generateKeyPair, exportJWK } from 'jose';
import Provider from 'oidc-provider';
import { ACCOUNTS, LOGIN_ID, LOGIN_SECRET, MACHINE_ID, MACHINE_SECRET, WEBAPP_ID, WEBAPP_SECRET } from './clients.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const port = Number(opt('port', '0'));
const alg = opt('alg', 'ES256');
const host = opt('host', '127.0.0.1');

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
const issuer = `http://${host}:${server.address().port}`;

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
    {
      client_id: LOGIN_ID,
      client_secret: LOGIN_SECRET,
      application_type: 'native',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/oauth/oidc/callback'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: alg,
    },
  ],
  findAccount: async (_ctx, id) => ACCOUNTS[id] && {
    accountId: id,
    claims: async () => ACCOUNTS[id].claims,
  },
  // The scopes' claims go in the ID token, as Dex and Keycloak put them there.
  conformIdTokenClaims: false,
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

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function form(uid, title, inner) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1>`
    + `<form method="post" action="/interaction/${uid}">${inner}</form></body></html>`;
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

// The interactive sign-in: GET shows the login form (prompt "login") or the consent form
// (prompt "consent"); POST answers it. A wrong password shows the login form again.
async function interaction(req, res) {
  try {
    const details = await provider.interactionDetails(req, res);
    const { uid, prompt, params, session } = details;
    const page = (status, html) => {
      res.statusCode = status;
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end(html);
    };
    const loginForm = (error) => form(uid, 'Sign in', `${error ? `<p>${escape(error)}</p>` : ''}`
      + '<label>User <input type="text" name="login"></label>'
      + '<label>Password <input type="password" name="password"></label>'
      + '<button type="submit" name="action" value="login">Sign in</button>');
    if (req.method === 'GET') {
      if (prompt.name === 'login') return page(200, loginForm());
      return page(200, form(uid, `Allow ${escape(params.client_id)}?`,
        `<p>${escape(params.client_id)} asks for ${escape(params.scope)}.</p>`
        + '<button type="submit" name="action" value="confirm">Allow</button>'
        + '<button type="submit" name="action" value="abort">Deny</button>'));
    }
    const fields = await readForm(req);
    const action = fields.get('action');
    let result;
    if (action === 'abort') {
      result = { error: 'access_denied', error_description: 'End-User aborted interaction' };
    } else if (prompt.name === 'login' && action === 'login') {
      const account = ACCOUNTS[fields.get('login')];
      if (!account || account.password !== fields.get('password')) {
        return page(403, loginForm('Wrong user name or password.'));
      }
      result = { login: { accountId: fields.get('login') } };
    } else if (prompt.name === 'consent' && action === 'confirm') {
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
      grant.addOIDCScope(String(params.scope ?? 'openid'));
      if (params.resource) {
        for (const r of [].concat(params.resource)) grant.addResourceScope(r, 'mcp');
      }
      result = { consent: { grantId: await grant.save() } };
    } else {
      return page(400, `unexpected ${escape(action)} at prompt ${escape(prompt.name)}`);
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
