// A headless browser for the sign-in tests: navigations with redirects followed as a browser
// follows them, HTML forms submitted as a browser submits them, and a cookie jar with the
// rules that decide whether brain-mcp's sign-in works in a real browser (RFC 6265bis):
// cookies are per host and ignore the port; Path, Max-Age, Secure and the __Host- prefix
// are honoured; SameSite is enforced: a Strict cookie is sent only on same-site requests, a
// Lax one (the default) also on cross-site top-level GET navigations, and neither on a
// cross-site POST. A redirect chain that passed through another site is cross-site
// (RFC 6265bis, "Same-site and Cross-site Requests"). Sites are the scheme and host (the
// tests run on loopback names, which have no registrable domain): http://localhost and
// http://127.0.0.1 are two sites. A connection is secure for Secure cookies over https and,
// as browsers decide (RFC 6265bis leaves "secure" to the user agent; Chromium and Firefox
// treat loopback as a potentially trustworthy origin, Secure Contexts §3.1), to a loopback
// host over http: the owner's pages' __Host- session cookie is Secure on http://127.0.0.1.
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);
const secureUrl = (u) => u.protocol === 'https:' || LOOPBACK.has(u.hostname) || u.hostname.endsWith('.localhost');

export class Browser {
  constructor() {
    this.jar = [];
    this.log = [];
  }

  static site(url) {
    const u = new URL(url);
    return `${u.protocol}//${u.hostname}`;
  }

  store(url, setCookies) {
    const u = new URL(url);
    for (const line of setCookies) {
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const c = {
        name: pair.slice(0, eq),
        value: pair.slice(eq + 1),
        host: u.hostname,
        path: null,
        secure: false,
        sameSite: 'lax',
        expires: Infinity,
      };
      let domain = false;
      for (const a of attrs) {
        const [k, v = ''] = a.split('=');
        const key = k.toLowerCase();
        if (key === 'path') c.path = v;
        else if (key === 'secure') c.secure = true;
        else if (key === 'samesite') c.sameSite = v.toLowerCase();
        else if (key === 'max-age') c.expires = Date.now() + Number(v) * 1000;
        else if (key === 'domain') domain = true;
      }
      if (c.path === null || !c.path.startsWith('/')) {
        // RFC 6265 §5.1.4: the default path is the request path up to its last slash.
        c.path = u.pathname.slice(0, u.pathname.lastIndexOf('/')) || '/';
      }
      // A Secure cookie only from a secure origin; __Host- only Secure, Path=/, host-only.
      if (c.secure && !secureUrl(u)) continue;
      if (c.name.startsWith('__Host-') && (!c.secure || c.path !== '/' || domain)) continue;
      this.jar = this.jar.filter((o) => !(o.name === c.name && o.host === c.host && o.path === c.path));
      if (c.expires > Date.now()) this.jar.push(c);
    }
  }

  // The Cookie header for a request to `url`; `sameSite` says whether the whole navigation
  // stayed on the target's site, `topLevelGet` whether it is a top-level GET.
  cookieHeader(url, sameSite, topLevelGet) {
    const u = new URL(url);
    const now = Date.now();
    return this.jar
      .filter((c) => c.expires > now && c.host === u.hostname)
      .filter((c) => u.pathname === c.path || u.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`))
      .filter((c) => !c.secure || secureUrl(u))
      .filter((c) => sameSite || (c.sameSite === 'none' && c.secure) || (c.sameSite === 'lax' && topLevelGet))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  cookie(host, name) {
    return this.jar.find((c) => c.host === host && c.name === name)?.value;
  }

  // The cookies the jar holds for `host`, with their attributes.
  cookies(host) {
    return this.jar.filter((c) => c.host === host && c.expires > Date.now());
  }

  // A top-level navigation started from a page on `from` (a URL, or null for one the user
  // typed), following redirects until a page answers or `stop(url)` says to stop before
  // requesting that URL. `rewrite(url)` may change a URL before it is requested (a hostile
  // extension or proxy). Returns {url, status, headers, text} or {stopped: url}.
  async navigate(url, { from = null, method = 'GET', body = null, stop = () => false, rewrite = (x) => x } = {}) {
    const initiator = from ? Browser.site(from) : null;
    const chain = [];
    for (let hops = 0; hops < 20; hops++) {
      url = rewrite(url);
      if (stop(url)) return { stopped: url };
      chain.push(Browser.site(url));
      const target = Browser.site(url);
      const sameSite = (initiator === null || initiator === target) && chain.every((s) => s === target);
      const headers = {};
      const cookie = this.cookieHeader(url, sameSite, method === 'GET');
      if (cookie) headers.cookie = cookie;
      if (body !== null) headers['content-type'] = 'application/x-www-form-urlencoded';
      const res = await fetch(url, { method, body, headers, redirect: 'manual' });
      this.store(url, res.headers.getSetCookie());
      this.log.push(`${method} ${url} -> ${res.status}`);
      const location = res.headers.get('location');
      if ([301, 302, 303, 307, 308].includes(res.status) && location) {
        // RFC 9110 §15.4: 303, and 301/302 after a POST, are followed with GET.
        if (res.status === 303 || ([301, 302].includes(res.status) && method === 'POST')) {
          method = 'GET';
          body = null;
        }
        url = new URL(location, url).toString();
        continue;
      }
      return { url, status: res.status, headers: res.headers, text: await res.text() };
    }
    throw new Error(`more than 20 redirects:\n${this.log.join('\n')}`);
  }

  // Submits the form of `page` that holds `button` ({name, value}), with `fill` overriding
  // or adding fields, as a browser does (HTML, "constructing the entry list"): every input
  // with a name (hidden, text, password), radio buttons and checkboxes only when checked,
  // plus the pressed button's name and value.
  // `button` may instead be {form: ACTION}: the form posting to ACTION, submitted by its one
  // unnamed button (which adds no field).
  async submit(page, button, fill = {}, options = {}) {
    const forms = [...page.text.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)];
    const want = button.form ? `action="${button.form}"` : `name="${button.name}" value="${button.value}"`;
    const form = forms.find((f) => (button.form ? f[1] : f[2]).includes(want));
    if (!form) throw new Error(`no form with ${want} on ${page.url}:\n${page.text}`);
    const attr = (tag, name) => {
      const m = tag.match(new RegExp(`\\b${name}="([^"]*)"`, 'i'));
      return m ? unescape(m[1]) : null;
    };
    const fields = new URLSearchParams();
    for (const [tag] of form[2].matchAll(/<input\b[^>]*>/gi)) {
      const name = attr(tag, 'name');
      if (name === null || name in fill) continue;
      const type = (attr(tag, 'type') ?? 'text').toLowerCase();
      if ((type === 'radio' || type === 'checkbox') && !/\schecked(\s|>|=|\/)/i.test(tag)) continue;
      fields.append(name, attr(tag, 'value') ?? '');
    }
    for (const [k, v] of Object.entries(fill)) fields.append(k, v);
    if (!button.form) fields.append(button.name, button.value);
    const method = (attr(form[1], 'method') ?? 'GET').toUpperCase();
    const action = new URL(attr(form[1], 'action') ?? page.url, page.url).toString();
    if (method !== 'POST') throw new Error(`a ${method} form on ${page.url}`);
    return this.navigate(action, { ...options, from: page.url, method, body: fields.toString() });
  }
}

// The target of a page's `<meta http-equiv="refresh" content="N; url=...">` (HTML, "shared
// declarative refresh steps", for the unquoted form), as an absolute URL; null without one.
// A browser follows it as a navigation the page itself starts: from the page's own site.
export function refreshTarget(page) {
  const m = page.text?.match(/<meta http-equiv="refresh" content="([^"]*)">/i);
  if (!m) return null;
  const u = unescape(m[1]).match(/^\s*\d+\s*[;,]\s*url\s*=\s*(.*)$/i);
  return u ? new URL(u[1].trim(), page.url).toString() : null;
}

function unescape(s) {
  return s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

// The provider's login and consent forms (provider.mjs): signs `user` in and answers the
// consent prompt with `consent` ('allow' or 'deny'). `page` is the login form.
export async function atProvider(browser, page, { user, password, consent = 'allow', ...options }) {
  if (!page.text?.includes('name="login"')) {
    throw new Error(`not the provider's login form (${page.status} ${page.url}):\n${page.text}`);
  }
  let next = await browser.submit(page, { name: 'action', value: 'login' }, { login: user, password }, options);
  if (next.text?.includes('name="action" value="confirm"')) {
    next = await browser.submit(next, { name: 'action', value: consent === 'allow' ? 'confirm' : 'abort' }, {}, options);
  }
  return next;
}
