// The MCP TypeScript SDK client on brain-mcp with a token from the real provider:
// client_credentials at provider.mjs (for RESOURCE, brain-mcp's /mcp URL), then the SDK's
// Streamable HTTP transport with that bearer token: initialize, tools/list, remember, search.
//
//   node sdk_client.mjs ISSUER MCP_URL
//
// Prints `ok <tools> <note id>` and exits 0, or throws.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { MACHINE_ID, MACHINE_SECRET } from './clients.mjs';

const [issuer, mcpUrl] = process.argv.slice(2);
const res = await fetch(`${issuer}/token`, {
  method: 'POST',
  headers: {
    authorization: `Basic ${Buffer.from(`${MACHINE_ID}:${MACHINE_SECRET}`).toString('base64')}`,
    'content-type': 'application/x-www-form-urlencoded',
  },
  body: new URLSearchParams({ grant_type: 'client_credentials', resource: mcpUrl, scope: 'mcp' }),
});
const tokens = await res.json();
if (!res.ok) throw new Error(`token endpoint: ${res.status} ${JSON.stringify(tokens)}`);
const [header] = tokens.access_token.split('.');
const typ = JSON.parse(Buffer.from(header, 'base64url')).typ;
if (typ !== 'at+jwt') throw new Error(`the provider issued typ ${typ}, not an RFC 9068 JWT`);

const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), {
  requestInit: { headers: { Authorization: `Bearer ${tokens.access_token}` } },
});
const client = new Client({ name: 'brain-mcp-oidc-test', version: '1.0.0' });
await client.connect(transport);
const { tools } = await client.listTools();
if (!tools.some((t) => t.name === 'remember')) throw new Error('no remember tool');
const marker = `oidc-${Date.now()}`;
const saved = await client.callTool({ name: 'remember', arguments: { text: `The provider token works: ${marker}` } });
if (saved.isError) throw new Error(`remember failed: ${JSON.stringify(saved)}`);
const found = await client.callTool({ name: 'search', arguments: { query: marker } });
const hits = found.structuredContent?.results ?? [];
if (!hits.some((h) => h.id === saved.structuredContent.id)) {
  throw new Error(`search did not find the note: ${JSON.stringify(found.structuredContent)}`);
}
await client.close();
console.log(`ok ${tools.length} ${saved.structuredContent.id}`);
