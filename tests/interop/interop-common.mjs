// Shared pieces of the Node interop checks (run.sh sets the environment; see
// interop_common.py for the variables).
import { randomUUID } from 'node:crypto';

export const MCP_URL = process.env.MCP_URL;
export const ISSUER = process.env.ISSUER;
export const CLIENT_ID = process.env.OAUTH_CLIENT_ID ?? '';
export const CLIENT_SECRET = process.env.OAUTH_CLIENT_SECRET ?? '';
export const OWNER_PASSWORD = process.env.BRAIN_OWNER_PASSWORD || undefined;
export const TOOLS = ['fetch', 'forget', 'list_notes', 'list_spaces', 'list_tags', 'recall', 'remember', 'search', 'update'];
/** A note's canonical URL: the issuer, /notes/, the id as one percent-encoded segment. */
export const noteUrl = (id) => `${ISSUER}/notes/${encodeURIComponent(id)}`;
// Any loopback port: pre-registered clients may use loopback redirects on any port, and the
// redirect is never followed.
export const REDIRECT_URI = 'http://127.0.0.1:53682/callback';

export class CheckFailed extends Error {}
export function check(cond, what) {
  if (!cond) throw new CheckFailed(what);
}
export const log = (...a) => console.error(...a);
export const marker = (tag) => `interop-${tag}-${randomUUID()}`;

/** A fetch that logs every exchange (method, URL, interesting headers, status). */
export function loggingFetch(tag) {
  return async (url, init = {}) => {
    const res = await fetch(url, init);
    const h = new Headers(init.headers ?? {});
    const shown = {};
    for (const k of ['mcp-protocol-version', 'mcp-method', 'accept', 'content-type']) if (h.get(k)) shown[k] = h.get(k);
    shown.authorization = h.get('authorization') ? h.get('authorization').split(' ')[0] + ' …' : '-';
    log(`[${tag}] ${init.method ?? 'GET'} ${url} ${JSON.stringify(shown)} -> ${res.status} ${res.headers.get('www-authenticate') ?? ''}`);
    return res;
  };
}

function htmlDecode(s) {
  return s.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos|#39);/gi, (m, e) => {
    const l = e.toLowerCase();
    if (l.startsWith('#x')) return String.fromCodePoint(parseInt(l.slice(2), 16));
    if (l.startsWith('#')) return String.fromCodePoint(parseInt(l.slice(1), 10));
    return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[l];
  });
}
function attrs(tag) {
  const out = {};
  for (const m of tag.matchAll(/([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*(?:=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?/g)) {
    out[m[1].toLowerCase()] = htmlDecode(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return out;
}

/**
 * Play the user's browser: GET the authorization URL without following redirects; when the
 * server shows a consent form, fill in the owner password (and `choices`) and approve. Returns the query
 * parameters of the redirect back to the client.
 */
export async function authorizeHeadless(authorizationUrl, password, choices = {}) {
  let res = await fetch(authorizationUrl, { redirect: 'manual' });
  log(`[browser] GET ${authorizationUrl} -> ${res.status}`);
  if (res.status === 200 && (res.headers.get('content-type') ?? '').includes('text/html')) {
    check(password !== undefined, 'server showed a consent page but no owner password is configured');
    const page = await res.text();
    const form = page.match(/<form\b([^>]*)>([\s\S]*?)<\/form>/i);
    check(form, `consent page has no <form>: ${page.slice(0, 500)}`);
    const fa = attrs(form[1]);
    check((fa.method ?? 'get').toLowerCase() === 'post', `consent form method ${fa.method}`);
    const body = new URLSearchParams();
    let sawPassword = false;
    for (const m of form[2].matchAll(/<(input|button)\b([^>]*)>/gi)) {
      const a = attrs(m[2]);
      if (!a.name) continue;
      const type = (a.type ?? (m[1].toLowerCase() === 'button' ? 'submit' : 'text')).toLowerCase();
      if (type === 'password') {
        body.set(a.name, password);
        sawPassword = true;
      } else if (type === 'hidden' || type === 'text') body.set(a.name, a.value ?? '');
      else if (type === 'radio' && 'checked' in a) body.set(a.name, a.value ?? '');
      else if (type === 'submit' && a.name === 'action' && a.value === 'approve') body.set('action', 'approve');
    }
    // The owner's choices on the page (access, spaces), as a person would click them.
    for (const [k, v] of Object.entries(choices)) body.set(k, v);
    check(sawPassword, 'consent form has no password field');
    const target = new URL(fa.action ?? '', authorizationUrl);
    res = await fetch(target, { method: 'POST', body, redirect: 'manual', headers: { Origin: target.origin } });
    log(`[browser] POST ${target} -> ${res.status}`);
  }
  check(res.status === 302 || res.status === 303, `authorization did not redirect back: HTTP ${res.status} ${(await res.text()).slice(0, 500)}`);
  const location = res.headers.get('location') ?? '';
  check(location.startsWith(REDIRECT_URI), `redirect to unexpected place: ${location}`);
  const q = Object.fromEntries(new URL(location).searchParams);
  log(`[browser] redirected back with ${Object.keys(q).sort().join(',')}`);
  return q;
}

/**
 * listTools (every tool), remember a unique marker, search finds it with its title and url,
 * fetch gives it back whole. The SDK validates each structuredContent against the tool's
 * outputSchema.
 */
export async function exerciseTools(client, tag) {
  const tools = await client.listTools();
  const names = tools.tools.map((t) => t.name).sort();
  check(JSON.stringify(names) === JSON.stringify(TOOLS), `tools/list gave ${names}`);
  const m = marker(tag);
  let r = await client.callTool({ name: 'remember', arguments: { text: `note ${m}`, tags: ['interop'] } });
  check(!r.isError, `remember failed: ${JSON.stringify(r)}`);
  const noteId = r.structuredContent?.id;
  check(noteId, `remember returned no id: ${JSON.stringify(r)}`);
  r = await client.callTool({ name: 'search', arguments: { query: m } });
  check(!r.isError, `search failed: ${JSON.stringify(r)}`);
  const hits = r.structuredContent?.results ?? [];
  const hit = hits.find((h) => h.id === noteId);
  check(hit, `search for ${m} did not find note ${noteId}: ${JSON.stringify(r)}`);
  check(hit.title === `note ${m}` && hit.url === noteUrl(noteId), `search hit: ${JSON.stringify(hit)}`);
  r = await client.callTool({ name: 'fetch', arguments: { id: noteId } });
  check(!r.isError, `fetch failed: ${JSON.stringify(r)}`);
  const doc = r.structuredContent ?? {};
  const want = { id: noteId, title: `note ${m}`, text: `note ${m}`, url: noteUrl(noteId) };
  check(Object.keys(want).every((k) => doc[k] === want[k]), `fetch: ${JSON.stringify(doc)}`);
  check(JSON.stringify(doc.metadata?.tags) === '["interop"]' && doc.next_offset === null, `fetch: ${JSON.stringify(doc)}`);
  log(`[${tag}] remembered ${noteId}, found it again (title, url) and fetched it`);
}

/** Run main() with an overall deadline; exit 0 on success, 1 with a message otherwise. */
export function runCheck(main, deadlineMs = 90_000) {
  const timer = setTimeout(() => {
    log(`CHECK FAILED: timed out after ${deadlineMs} ms`);
    process.exit(1);
  }, deadlineMs);
  main().then(
    () => {
      clearTimeout(timer);
      log('ok');
      process.exit(0);
    },
    (e) => {
      log(e instanceof CheckFailed ? `CHECK FAILED: ${e.message}` : e);
      if (!(e instanceof CheckFailed)) log(`CHECK FAILED: ${e?.name}: ${e?.message}`);
      process.exit(1);
    },
  );
}
