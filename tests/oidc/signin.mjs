// The owner's browser on brain-mcp's consent page with sign-in through the provider
// (BRAIN_OIDC_LOGIN): opens the authorization URL an MCP client sent it to, presses
// "Sign in with ...", signs in on the provider's login form, answers its consent form, comes
// back to brain-mcp, and presses Allow or Deny on the "signed in as" page. The browser is
// browser.mjs (redirects, forms, a cookie jar that enforces SameSite); nothing of brain-mcp
// is imitated.
//
//   node signin.mjs '<plan as JSON>'
//
// plan: {"authorize": URL,             brain-mcp's /oauth/authorize?... as the client built it
//        "client": URL,                the MCP client's redirect URI origin: stop before it
//        "user", "password",           at the provider
//        "consent": "allow"|"deny",    the provider's consent form (default allow)
//        "tamper": null|"nonce"|"code_challenge",   rewrite that parameter on the way to the
//                                      provider (a hostile proxy or extension)
//        "stop": "callback"|"end",     "callback": stop before requesting brain-mcp's callback
//        "decision": "approve"|"deny"} on the "signed in as" page (default approve)
// Prints one JSON object: {"consent_page", "provider_url", "callback", "cookie",
// "signed_in": {status, text}, "final": {status, text} | {stopped}, "log"}.
import { Browser, atProvider } from './browser.mjs';

const plan = JSON.parse(process.argv[2]);
const brain = new URL(plan.authorize).origin;
const browser = new Browser();
const out = { log: browser.log };
const print = () => console.log(JSON.stringify(out));

// The MCP client (claude.ai) sends the browser to brain-mcp: a cross-site navigation.
const consent = await browser.navigate(plan.authorize, { from: plan.client });
out.consent_page = { status: consent.status, text: consent.text };
if (consent.status !== 200 || !consent.text.includes('value="signin"')) {
  print();
  process.exit(0);
}
const callbackUrl = `${brain}/oauth/oidc/callback`;
const stopAtCallback = (u) => plan.stop === 'callback' && u.startsWith(`${callbackUrl}?`);
const rewrite = (u) => {
  if (!plan.tamper || new URL(u).origin === brain) return u;
  const url = new URL(u);
  if (url.searchParams.has(plan.tamper)) {
    url.searchParams.set(plan.tamper, 'tampered0tampered0tampered0tampered0tampered0');
  }
  return url.toString();
};
const stopAtClient = (u) => stopAtCallback(u) || u.startsWith(plan.client);
let page = await browser.submit(consent, { name: 'action', value: 'signin' }, {}, {
  stop: (u) => {
    if (new URL(u).origin !== brain && !out.provider_url) out.provider_url = u;
    return stopAtClient(u);
  },
  rewrite,
});
out.cookie = browser.cookie(new URL(brain).hostname, 'brain-signin');
if (page.status !== 200 || !page.text.includes('name="login"')) {
  out.final = page.stopped ? { stopped: page.stopped } : { status: page.status, text: page.text };
  print();
  process.exit(0);
}
page = await atProvider(browser, page, {
  user: plan.user,
  password: plan.password,
  consent: plan.consent ?? 'allow',
  stop: stopAtClient,
  rewrite,
});
if (page.stopped && stopAtCallback(page.stopped)) {
  out.callback = page.stopped;
  // What the browser would send with it.
  out.cookie_header = browser.cookieHeader(page.stopped, false, true);
  print();
  process.exit(0);
}
out.signed_in = page.stopped ? { stopped: page.stopped } : { status: page.status, text: page.text };
if (page.status === 200 && page.text.includes('name="signin"')) {
  const decision = plan.decision ?? 'approve';
  const final = await browser.submit(page, { name: 'action', value: decision }, {}, { stop: stopAtClient });
  out.final = final.stopped ? { stopped: final.stopped } : { status: final.status, text: final.text };
  out.cookie_after = browser.cookie(new URL(brain).hostname, 'brain-signin') ?? null;
}
print();
