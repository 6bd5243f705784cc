// The owner's browser signing in to brain-mcp's own pages through the provider
// (BRAIN_OIDC_LOGIN): opens a page of brain-mcp while signed out (a note's link, say), is
// sent to /signin, presses "Sign in with ...", signs in on the provider's login form,
// answers its consent form, comes back through /oauth/oidc/callback, follows the "Signed in"
// page on to where it started, opens the activity page and signs out. The browser is
// browser.mjs (redirects, forms, meta refresh, a cookie jar that enforces SameSite);
// nothing of brain-mcp is imitated.
//
//   node pages.mjs '<plan as JSON>'
//
// plan: {"start": URL,                a page of brain-mcp, opened as if typed
//        "user", "password",          at the provider
//        "consent": "allow"|"deny",   the provider's consent form (default allow)
//        "next": null|string,         post this as the button form's next instead of its own
//        "stop": null|"callback"}     "callback": stop before requesting brain-mcp's callback
// Prints one JSON object: {"signin_page", "provider_url", "callback", "cookie",
// "cookie_header", "signed_in": {status, url, text, set_cookie: [...]}, "landed", "session":
// {name, secure, sameSite, path} | null, "activity", "signed_out", "after", "log"}; each page
// is {status, url, text}.
import { Browser, atProvider, refreshTarget } from './browser.mjs';

const plan = JSON.parse(process.argv[2]);
const brain = new URL(plan.start).origin;
const host = new URL(brain).hostname;
const browser = new Browser();
const out = { log: browser.log };
const print = () => console.log(JSON.stringify(out));
const shown = (p) => (p.stopped ? { stopped: p.stopped } : { status: p.status, url: p.url, text: p.text });
const session = () => {
  const c = browser.cookies(host).find((x) => x.name.startsWith('__Host-brain-'));
  return c ? { name: c.name, secure: c.secure, sameSite: c.sameSite, path: c.path } : null;
};

const signin = await browser.navigate(plan.start);
out.signin_page = shown(signin);
if (signin.status !== 200 || !signin.text.includes('value="provider"')) {
  print();
  process.exit(0);
}
const callbackUrl = `${brain}/oauth/oidc/callback`;
const stopAtCallback = (u) => plan.stop === 'callback' && u.startsWith(`${callbackUrl}?`);
const fill = plan.next === undefined || plan.next === null ? {} : { next: plan.next };
let page = await browser.submit(signin, { name: 'action', value: 'provider' }, fill, {
  stop: (u) => {
    if (new URL(u).origin !== brain && !out.provider_url) out.provider_url = u;
    return stopAtCallback(u);
  },
});
out.cookie = browser.cookie(host, 'brain-signin') ?? null;
if (page.status !== 200 || !page.text.includes('name="login"')) {
  out.signed_in = shown(page);
  print();
  process.exit(0);
}
page = await atProvider(browser, page, {
  user: plan.user,
  password: plan.password,
  consent: plan.consent ?? 'allow',
  stop: stopAtCallback,
});
if (page.stopped) {
  out.callback = page.stopped;
  out.cookie_header = browser.cookieHeader(page.stopped, false, true);
  print();
  process.exit(0);
}
out.signed_in = { ...shown(page), set_cookie: page.headers.getSetCookie() };
out.session = session();
out.cookie_after = browser.cookie(host, 'brain-signin') ?? null;
const target = refreshTarget(page);
if (page.status !== 200 || !target) {
  print();
  process.exit(0);
}
// The "Signed in" page moves on by itself: a navigation from brain-mcp's own page.
const landed = await browser.navigate(target, { from: page.url });
out.landed = shown(landed);
const activity = await browser.navigate(`${brain}/activity`, { from: landed.url });
out.activity = shown(activity);
if (activity.status === 200) {
  const bye = await browser.submit(activity, { form: '/signout' });
  out.signed_out = shown(bye);
  out.session_after_sign_out = session();
  out.after = shown(await browser.navigate(`${brain}/notes`, { from: bye.url }));
}
print();
