// Scopes chosen at consent (issue 12), through the MCP TypeScript SDK's authorization-code
// client (identified by the pinned metadata document of tests/interop/cimd/):
//   stepup: the owner grants read only: tools/list shows the five read tools, search works,
//           remember gets 403 insufficient_scope. The SDK (1.32.2) steps up by refreshing its
//           token (its auth() prefers a refresh token to a new authorization, and a refresh
//           sends no scope), gets the same read-only grant back, tries once more and gives up
//           with "Server returned 403 after trying upscoping": the owner is not asked again.
//           (py_scopes.py shows the Python SDK asking the owner again.)
//   old:    the SDK of revision 2025-06-18 (1.17.5, which has no step-up), read only:
//           remember is a tool result with isError and the server's message.
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import {
  ISSUER, MCP_URL, OWNER_PASSWORD, REDIRECT_URI, authorizeHeadless, check, log, loggingFetch, runCheck,
} from './interop-common.mjs';

const MODE = process.argv[2];
if (!['stepup', 'old'].includes(MODE)) {
  console.error('usage: ts_scopes.mjs stepup|old');
  process.exit(2);
}
const sdk = MODE === 'old' ? 'sdk-2025-06-18' : '@modelcontextprotocol/sdk';
const { Client } = await import(`${sdk}/client/index.js`);
const { StreamableHTTPClientTransport } = await import(`${sdk}/client/streamableHttp.js`);
const CIMD_URL = 'https://interop.brain-mcp.test/oauth/client-metadata.json';

class Provider {
  constructor() {
    this.consents = 0;
  }
  get redirectUrl() { return REDIRECT_URI; }
  get clientMetadataUrl() { return CIMD_URL; }
  get clientMetadata() {
    return { client_name: 'scopes', redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none' };
  }
  state() { return 'st-scopes'; }
  clientInformation() { return this._client; }
  saveClientInformation(i) { this._client = i; }
  tokens() { return this._tokens; }
  saveTokens(t) { this._tokens = t; }
  saveCodeVerifier(v) { this._verifier = v; }
  codeVerifier() { return this._verifier; }
  async redirectToAuthorization(url) {
    this.consents += 1;
    const access = 'read';
    log(`[ts-sdk] consent #${this.consents} (${access}) for scope ${url.searchParams.get('scope')}`);
    const r = await authorizeHeadless(url.toString(), OWNER_PASSWORD, { access });
    check(r.code, `no code: ${JSON.stringify(r)}`);
    check(r.iss === ISSUER, `iss ${r.iss}`);
    this.code = r.code;
    // The old SDK finishes with transport.finishAuth; the new one too (same API).
  }
}

runCheck(async () => {
  const provider = new Provider();
  const fetchFn = loggingFetch('ts-sdk');
  let transport = new StreamableHTTPClientTransport(new URL(MCP_URL), { authProvider: provider, fetch: fetchFn });
  let client = new Client({ name: 'brain-mcp-interop-scopes', version: '1.0.0' });
  try {
    await client.connect(transport);
    check(false, 'connected without authorization');
  } catch (e) {
    if (!(e instanceof UnauthorizedError) && e?.constructor?.name !== 'UnauthorizedError') throw e;
  }
  await transport.finishAuth(provider.code);
  check(provider.tokens().scope === 'brain:read', `granted scope ${provider.tokens().scope}`);
  // The step-up may re-authorize in the middle of a call; finish it as a browser app would.
  const stepUp = provider.redirectToAuthorization.bind(provider);
  provider.redirectToAuthorization = async (url) => {
    await stepUp(url);
    await transport.finishAuth(provider.code);
  };
  transport = new StreamableHTTPClientTransport(new URL(MCP_URL), { authProvider: provider, fetch: fetchFn });
  client = new Client({ name: 'brain-mcp-interop-scopes', version: '1.0.0' });
  await client.connect(transport);
  log(`[ts-sdk] connected, protocol ${transport.protocolVersion ?? '(not exposed)'}`);
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name).sort();
  check(JSON.stringify(names) === JSON.stringify(['fetch', 'list_notes', 'list_spaces', 'list_tags', 'recall', 'search']), `read-only tools/list: ${names}`);
  const found = await client.callTool({ name: 'search', arguments: { query: 'anything at all' } });
  check(!found.isError, `search failed: ${JSON.stringify(found)}`);
  const write = { name: 'remember', arguments: { text: `scopes ${MODE} ${Date.now()}` } };
  if (MODE === 'stepup') {
    let err;
    try {
      await client.callTool(write);
    } catch (e) {
      err = e;
    }
    check(err, 'remember succeeded with a read-only grant');
    check(err.code === 403 && String(err.message).includes('403 after trying upscoping'), `unexpected error: ${err}`);
    check(provider.tokens().scope === 'brain:read', `scope after the refresh ${provider.tokens().scope}`);
  } else {
    const r = await client.callTool(write);
    check(r.isError === true, `remember with a read-only grant: ${JSON.stringify(r)}`);
    const text = r.content?.[0]?.text ?? '';
    check(text.includes('the owner granted this connection read-only access'), `tool error text: ${text}`);
    check(provider.consents === 1, `the old SDK has no step-up, yet asked ${provider.consents} times`);
  }
  await client.close();
  log(`[ts-sdk] scopes ${MODE}: ok`);
});
