// Check b: the MCP TypeScript SDK's ClientCredentialsProvider against brain-mcp, through
// discovery (401 -> protected-resource metadata -> AS metadata -> token), then initialize,
// listTools (5 tools), callTool remember with a unique marker, callTool search finds it.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { CLIENT_ID, CLIENT_SECRET, ISSUER, MCP_URL, check, exerciseTools, log, loggingFetch, runCheck } from './interop-common.mjs';

runCheck(async () => {
  const provider = new ClientCredentialsProvider({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, expectedIssuer: ISSUER });
  const transport = new StreamableHTTPClientTransport(new URL(MCP_URL), { authProvider: provider, fetch: loggingFetch('ts-sdk') });
  const client = new Client({ name: 'brain-mcp-interop-ts-cc', version: '1.0.0' });
  const errors = [];
  client.onerror = (e) => errors.push(e);
  await client.connect(transport);
  log(`[ts-sdk] connected: server ${JSON.stringify(client.getServerVersion())}, protocol ${transport.protocolVersion}`);
  check(client.getServerVersion()?.name === 'brain-mcp', `server name ${client.getServerVersion()?.name}`);
  check(client.getServerCapabilities()?.tools, 'server does not declare the tools capability');
  await exerciseTools(client, 'ts-cc');
  const tokens = provider.tokens();
  check(tokens?.access_token, 'no token saved');
  check(tokens.scope === 'mcp', `granted scope ${tokens.scope}`);
  await client.close();
  check(errors.length === 0, `transport reported errors: ${errors.map((e) => e?.message ?? e).join('; ')}`);
});
