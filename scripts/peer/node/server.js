// Benchmark peer: brain-mcp's five tools on the official TypeScript SDK with Express.
//
// - POST /mcp: StreamableHTTPServerTransport in stateless JSON-response mode
//   (sessionIdGenerator: undefined, enableJsonResponse: true), a new McpServer and transport
//   per request, exactly as the SDK's simpleStatelessStreamableHttp example does.
// - The SDK's requireBearerAuth middleware, with a verifier over an in-memory token map
//   (the static BRAIN_MCP_TOKEN plus every token the token endpoint issued).
// - POST /oauth/token: client_credentials. SDK 1.x's own tokenHandler refuses that grant
//   ("Additional auth methods will not be added on the server side of the SDK"), so this is
//   written the way the SDK's demo authorization server (DemoInMemoryAuthProvider) and its
//   tokenHandler are: express.urlencoded, the SDK's authenticateClient middleware over an
//   in-memory clients store, a randomUUID token in a Map with expiresAt, Cache-Control:
//   no-store. The SDK's default express-rate-limit on the token route is left out (as
//   brain-mcp only limits failures), or the benchmark would measure 429s.
// - Notes live in an in-memory array, loaded from NOTES_FILE (brain-mcp's notes.jsonl) so
//   both servers search the same texts. search is a simple scan: score = how many query
//   words occur in the note (each note's words are a Set built at load), ties newest first.
//   No BM25, no index: simple word match.
//
// Env: PORT (required), BRAIN_MCP_TOKEN, OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, NOTES_FILE.
import { randomUUID, randomBytes } from 'node:crypto';
import { readFileSync, existsSync } from 'node:fs';
import * as z from 'zod/v4';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { authenticateClient } from '@modelcontextprotocol/sdk/server/auth/middleware/clientAuth.js';
import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import express from 'express';

const PORT = Number(process.env.PORT);
const STATIC_TOKEN = process.env.BRAIN_MCP_TOKEN;
const CLIENT_ID = process.env.OAUTH_CLIENT_ID;
const CLIENT_SECRET = process.env.OAUTH_CLIENT_SECRET;

// ---- notes --------------------------------------------------------------------------------
const words = (s) => s.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
const notes = []; // oldest first
const byId = new Map();
function addNote(n) {
  const note = { id: n.id, text: n.text, tags: n.tags, created_at: n.created_at, words: new Set(words(n.text)) };
  notes.push(note);
  byId.set(note.id, note);
  return note;
}
if (process.env.NOTES_FILE && existsSync(process.env.NOTES_FILE)) {
  for (const line of readFileSync(process.env.NOTES_FILE, 'utf8').split('\n')) {
    if (!line) continue;
    const r = JSON.parse(line);
    if (r.op === 'put') addNote(r);
    else if (r.op === 'del') byId.delete(r.id);
  }
}
const live = () => notes.filter((n) => byId.get(n.id) === n);
const pub = (n) => ({ id: n.id, text: n.text, tags: n.tags, created_at: n.created_at });

// ---- tools --------------------------------------------------------------------------------
const noteShape = { id: z.string(), text: z.string(), tags: z.array(z.string()), created_at: z.string() };
const result = (obj) => ({ content: [{ type: 'text', text: JSON.stringify(obj) }], structuredContent: obj });

function buildServer() {
  const server = new McpServer({ name: 'peer-node', version: '1.0.0' }, { capabilities: { tools: {} } });
  server.registerTool('remember', {
    description: "Save one note to the user's long-term memory.",
    inputSchema: { text: z.string().min(1), tags: z.array(z.string()).max(16).optional() },
    outputSchema: { id: z.string(), created_at: z.string(), tags: z.array(z.string()) },
  }, async ({ text, tags }) => {
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const n = addNote({ id: 'n_' + randomBytes(6).toString('hex'), text, tags: tags ?? [], created_at: now });
    return result({ id: n.id, created_at: n.created_at, tags: n.tags });
  });
  server.registerTool('search', {
    description: "Full-text search over the user's notes; best matches first.",
    inputSchema: { query: z.string().min(1), limit: z.number().int().min(1).max(50).optional(), tag: z.string().optional() },
    outputSchema: { results: z.array(z.object({ ...noteShape, score: z.number() })) },
  }, async ({ query, limit, tag }) => {
    const q = [...new Set(words(query))];
    const hits = [];
    for (let i = notes.length - 1; i >= 0; i--) {
      const n = notes[i];
      if (byId.get(n.id) !== n || (tag && !n.tags.includes(tag))) continue;
      let score = 0;
      for (const w of q) if (n.words.has(w)) score++;
      if (score > 0) hits.push({ n, score });
    }
    hits.sort((a, b) => b.score - a.score); // stable: newest first among equals
    return result({ results: hits.slice(0, limit ?? 10).map((h) => ({ ...pub(h.n), score: h.score })) });
  });
  server.registerTool('recall', {
    description: 'Fetch one whole note by its id.',
    inputSchema: { id: z.string() },
    outputSchema: noteShape,
  }, async ({ id }) => {
    const n = byId.get(id);
    if (!n) return { content: [{ type: 'text', text: `No note has the id ${id}.` }], isError: true };
    return result(pub(n));
  });
  server.registerTool('forget', {
    description: 'Delete one note by its id, permanently.',
    inputSchema: { id: z.string() },
    outputSchema: { deleted: z.boolean() },
  }, async ({ id }) => result({ deleted: byId.delete(id) }));
  server.registerTool('list_notes', {
    description: "List the user's notes, newest first.",
    inputSchema: { limit: z.number().int().min(1).max(50).optional(), tag: z.string().optional() },
    outputSchema: { notes: z.array(z.object(noteShape)) },
  }, async ({ limit, tag }) => {
    const out = [];
    for (let i = notes.length - 1; i >= 0 && out.length < (limit ?? 10); i--) {
      const n = notes[i];
      if (byId.get(n.id) === n && (!tag || n.tags.includes(tag))) out.push(pub(n));
    }
    return result({ notes: out });
  });
  return server;
}

// ---- OAuth: tokens and the client_credentials endpoint -----------------------------------
const tokens = new Map(); // token -> { clientId, scopes, expiresAt (ms) }
if (STATIC_TOKEN) tokens.set(STATIC_TOKEN, { clientId: 'static', scopes: ['mcp'], expiresAt: Infinity });
const verifier = {
  async verifyAccessToken(token) {
    const t = tokens.get(token);
    if (!t || t.expiresAt < Date.now()) throw new InvalidTokenError('Invalid or expired token');
    return { token, clientId: t.clientId, scopes: t.scopes, expiresAt: t.expiresAt === Infinity ? 4102444800 : Math.floor(t.expiresAt / 1000) };
  },
};
const clientsStore = {
  clients: new Map(CLIENT_ID ? [[CLIENT_ID, { client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [] }]] : []),
  async getClient(id) { return this.clients.get(id); },
};

const app = createMcpExpressApp();
app.get('/healthz', (_req, res) => { res.json({ status: 'ok' }); });

const tokenRouter = express.Router();
tokenRouter.use(express.urlencoded({ extended: false }));
tokenRouter.use(authenticateClient({ clientsStore }));
tokenRouter.post('/', (req, res) => {
  res.setHeader('Cache-Control', 'no-store');
  if (req.body.grant_type !== 'client_credentials') {
    res.status(400).json({ error: 'unsupported_grant_type' });
    return;
  }
  const token = randomUUID();
  tokens.set(token, { clientId: req.client.client_id, scopes: ['mcp'], expiresAt: Date.now() + 3600000 });
  res.json({ access_token: token, token_type: 'bearer', expires_in: 3600, scope: 'mcp' });
});
app.use('/oauth/token', tokenRouter);

app.post('/mcp', requireBearerAuth({ verifier }), async (req, res) => {
  const server = buildServer();
  try {
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => { transport.close(); server.close(); });
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  } catch (error) {
    if (!res.headersSent) {
      res.status(500).json({ jsonrpc: '2.0', error: { code: -32603, message: 'Internal server error' }, id: null });
    }
  }
});

app.listen(PORT, '127.0.0.1', (error) => {
  if (error) { console.error(error); process.exit(1); }
  console.error(`listening on http://127.0.0.1:${PORT} (${live().length} notes)`);
});
