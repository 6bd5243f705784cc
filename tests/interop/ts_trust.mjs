// Trust (issue 12) through the MCP TypeScript SDK: the owner approves a grant limited to the
// space "work" (consent page: "Only these: work"). The grant sees and writes only there; a
// note in `main`, written by the static token, cannot be reached by any tool: not by search,
// list_notes, list_tags, list_spaces, recall or fetch by its id, update or forget by its id,
// nor by naming the space. The static token still sees it unchanged afterwards.
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  MCP_URL, OWNER_PASSWORD, REDIRECT_URI, authorizeHeadless, check, log, loggingFetch, marker, runCheck,
} from './interop-common.mjs';

const CIMD_URL = 'https://interop.brain-mcp.test/oauth/client-metadata.json';

class Provider {
  get redirectUrl() { return REDIRECT_URI; }
  get clientMetadataUrl() { return CIMD_URL; }
  get clientMetadata() {
    return { client_name: 'trust', redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none' };
  }
  state() { return 'st-trust'; }
  clientInformation() { return this._client; }
  saveClientInformation(i) { this._client = i; }
  tokens() { return this._tokens; }
  saveTokens(t) { this._tokens = t; }
  saveCodeVerifier(v) { this._verifier = v; }
  codeVerifier() { return this._verifier; }
  async redirectToAuthorization(url) {
    const r = await authorizeHeadless(url.toString(), OWNER_PASSWORD, { spaces: 'some', space_list: 'work' });
    check(r.code, `no code: ${JSON.stringify(r)}`);
    this.code = r.code;
  }
}

const structured = (r, what) => {
  check(!r.isError, `${what} failed: ${JSON.stringify(r)}`);
  return r.structuredContent;
};

runCheck(async () => {
  const m = marker('trust');
  const word = m.split('-').pop(); // one word only this run wrote (search ORs its words)
  const staticClient = new Client({ name: 'brain-mcp-interop-static', version: '1.0.0' });
  await staticClient.connect(new StreamableHTTPClientTransport(new URL(MCP_URL), {
    requestInit: { headers: { Authorization: `Bearer ${process.env.BRAIN_MCP_TOKEN}` } },
    fetch: loggingFetch('ts-static'),
  }));
  const secret = structured(await staticClient.callTool({
    name: 'remember', arguments: { text: `private ${m}`, tags: ['private-tag'] },
  }), 'remember (static)');
  check(secret.space === 'main', `space ${secret.space}`);

  const provider = new Provider();
  const fetchFn = loggingFetch('ts-grant');
  let transport = new StreamableHTTPClientTransport(new URL(MCP_URL), { authProvider: provider, fetch: fetchFn });
  let client = new Client({ name: 'brain-mcp-interop-trust', version: '1.0.0' });
  try {
    await client.connect(transport);
    check(false, 'connected without authorization');
  } catch (e) {
    if (!(e instanceof UnauthorizedError) && e?.constructor?.name !== 'UnauthorizedError') throw e;
  }
  await transport.finishAuth(provider.code);
  check(provider.tokens().scope === 'brain:read brain:write brain:space:work', `granted scope ${provider.tokens().scope}`);
  transport = new StreamableHTTPClientTransport(new URL(MCP_URL), { authProvider: provider, fetch: fetchFn });
  client = new Client({ name: 'brain-mcp-interop-trust', version: '1.0.0' });
  await client.connect(transport);

  // It writes in its space (the default space for it is refused: it may not write to main).
  const work = structured(await client.callTool({
    name: 'remember', arguments: { text: `work ${m}`, space: 'work', tags: ['work-tag'] },
  }), 'remember in work');
  check(work.space === 'work' && work.by.includes('(grant g_'), `remember: ${JSON.stringify(work)}`);
  const errorText = async (name, args) => {
    const r = await client.callTool({ name, arguments: args });
    check(r.isError === true, `${name} ${JSON.stringify(args)} succeeded: ${JSON.stringify(r)}`);
    return r.content?.[0]?.text ?? '';
  };
  let t = await errorText('remember', { text: `into main ${m}` });
  check(t === 'this client may write only to the space work; "main" is not one of them', `remember in main: ${t}`);
  // Nothing of main reaches it.
  const hits = structured(await client.callTool({ name: 'search', arguments: { query: word } }), 'search').results;
  check(hits.length === 1 && hits[0].id === work.id, `search: ${JSON.stringify(hits)}`);
  const listed = structured(await client.callTool({ name: 'list_notes', arguments: { limit: 50 } }), 'list_notes').notes;
  check(listed.every((n) => n.space === 'work') && !listed.some((n) => n.id === secret.id), `list_notes: ${JSON.stringify(listed)}`);
  const tags = structured(await client.callTool({ name: 'list_tags', arguments: {} }), 'list_tags').tags;
  check(!tags.some((x) => x.tag === 'private-tag') && tags.some((x) => x.tag === 'work-tag'), `list_tags: ${JSON.stringify(tags)}`);
  const spaces = structured(await client.callTool({ name: 'list_spaces', arguments: {} }), 'list_spaces').spaces;
  check(spaces.length === 1 && spaces[0].space === 'work', `list_spaces: ${JSON.stringify(spaces)}`);
  const notFound = `no note has id "${secret.id}": check the id with search or list_notes (it may have been forgotten)`;
  for (const name of ['recall', 'fetch']) {
    t = await errorText(name, { id: secret.id });
    check(t === notFound, `${name} of the private note: ${t}`);
  }
  t = await errorText('update', { id: secret.id, text: 'overwritten' });
  check(t === notFound, `update of the private note: ${t}`);
  t = await errorText('forget', { id: secret.id });
  check(t === `Nothing was deleted: ${notFound}`, `forget of the private note: ${t}`);
  t = await errorText('search', { query: m, spaces: ['main'] });
  check(t === 'this client may see only the space work; "main" is not one of them', `search in main: ${t}`);
  t = await errorText('update', { id: work.id, space: 'main' });
  check(t.includes('may write only to the space work'), `move to main: ${t}`);

  // The owner's note is untouched.
  const still = structured(await staticClient.callTool({ name: 'recall', arguments: { id: secret.id } }), 'recall (static)');
  check(still.text === `private ${m}` && still.versions === 1, `private note after: ${JSON.stringify(still)}`);
  await client.close();
  await staticClient.close();
  log('[ts-sdk] trust: ok');
});
