// Check d: the MCP TypeScript SDK's authorization-code client (OAuthClientProvider + auth())
// driven headlessly. redirectToAuthorization() fetches the authorization URL with redirects
// disabled (posting the consent form with the owner password when there is one) and keeps the
// code; the connect attempt ends in UnauthorizedError as in a browser app; then
// transport.finishAuth(code), a fresh connect, and tool calls.
//
// Usage: ts_auth_code.mjs preregistered|dcr|cimd
//   preregistered: the OAUTH_CLIENT_ID/SECRET client, token_endpoint_auth_method client_secret_post
//   dcr:           dynamic registration asking for client_secret_post (what claude.ai does)
//   cimd:          a client metadata document URL as client_id (clientMetadataUrl), which the
//                  server has pinned (tests/interop/cimd/); `none` + PKCE at the token endpoint
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import {
  CLIENT_ID, CLIENT_SECRET, ISSUER, MCP_URL, OWNER_PASSWORD, REDIRECT_URI,
  authorizeHeadless, check, exerciseTools, log, loggingFetch, runCheck,
} from './interop-common.mjs';

const KIND = process.argv[2];
const CIMD_URL = 'https://interop.brain-mcp.test/oauth/client-metadata.json';
if (!['preregistered', 'dcr', 'cimd'].includes(KIND)) {
  console.error('usage: ts_auth_code.mjs preregistered|dcr|cimd');
  process.exit(2);
}

class HeadlessProvider {
  constructor() {
    this._state = `st-${Math.random().toString(36).slice(2)}`;
    this.redirected = undefined;
    if (KIND === 'preregistered') {
      this._client = { client_id: CLIENT_ID, client_secret: CLIENT_SECRET, token_endpoint_auth_method: 'client_secret_post' };
    }
  }
  get redirectUrl() { return REDIRECT_URI; }
  get clientMetadataUrl() { return KIND === 'cimd' ? CIMD_URL : undefined; }
  get clientMetadata() {
    return {
      client_name: 'brain-mcp interop (typescript sdk)',
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
    };
  }
  state() { return this._state; }
  clientInformation() { return this._client; }
  saveClientInformation(info) { this._client = info; }
  tokens() { return this._tokens; }
  saveTokens(t) { this._tokens = t; }
  saveCodeVerifier(v) { this._verifier = v; }
  codeVerifier() { return this._verifier; }
  async redirectToAuthorization(url) {
    log(`[ts-sdk] authorization URL: ${url}`);
    this.redirected = await authorizeHeadless(url.toString(), OWNER_PASSWORD);
  }
}

runCheck(async () => {
  const provider = new HeadlessProvider();
  const fetchFn = loggingFetch('ts-sdk');
  const errors = [];

  // 1. Connecting without a token: 401 -> discovery -> (registration) -> authorization redirect.
  let transport = new StreamableHTTPClientTransport(new URL(MCP_URL), { authProvider: provider, fetch: fetchFn });
  let client = new Client({ name: 'brain-mcp-interop-ts-ac', version: '1.0.0' });
  try {
    await client.connect(transport);
    check(false, 'connected without authorization');
  } catch (e) {
    if (!(e instanceof UnauthorizedError)) throw e;
  }
  const r = provider.redirected;
  check(r, 'redirectToAuthorization was not called');
  check(!r.error, `authorization error: ${r.error} ${r.error_description ?? ''}`);
  check(r.state === provider.state(), `state ${r.state} != ${provider.state()}`);
  check(r.iss === ISSUER, `iss ${r.iss} != ${ISSUER} (RFC 9207; advertised in metadata)`);
  check(r.code, 'no code');
  if (KIND === 'dcr') {
    const info = provider.clientInformation();
    log(`[ts-sdk] registered ${info.client_id} token_endpoint_auth_method=${info.token_endpoint_auth_method} secret=${info.client_secret ? 'yes' : 'no'}`);
    check(info.token_endpoint_auth_method === 'client_secret_post', `registration answered token_endpoint_auth_method=${info.token_endpoint_auth_method}`);
    check(info.client_secret, 'registration asked for client_secret_post but no client_secret was issued');
  }
  if (KIND === 'cimd') {
    const info = provider.clientInformation();
    check(info?.client_id === CIMD_URL, `client_id ${info?.client_id} is not the metadata URL (the SDK did not pick CIMD)`);
  }

  // 2. Exchange the code (the SDK picks the token endpoint auth method).
  await transport.finishAuth(r.code);
  const tokens = provider.tokens();
  check(tokens?.access_token && tokens.refresh_token, 'no access and refresh token after finishAuth');
  check(tokens.scope === 'mcp', `granted scope ${tokens.scope}`);

  // 3. A fresh connection with the token.
  transport = new StreamableHTTPClientTransport(new URL(MCP_URL), { authProvider: provider, fetch: fetchFn });
  client = new Client({ name: 'brain-mcp-interop-ts-ac', version: '1.0.0' });
  client.onerror = (e) => errors.push(e);
  await client.connect(transport);
  log(`[ts-sdk] connected, protocol ${transport.protocolVersion}`);
  await exerciseTools(client, `ts-ac-${KIND}`);
  await client.close();
  check(errors.length === 0, `transport reported errors: ${errors.map((e) => e?.message ?? e).join('; ')}`);
});
