// The owner signing in through the provider in a real browser: Debian's Chromium
// (/usr/bin/chromium), headless, with a fresh profile, driven by playwright-core. It opens
// the authorization URL claude.ai would send the owner to, presses "Sign in with ...", signs
// in on the provider's login form, allows on its consent form, comes back to brain-mcp's
// "signed in as" page and presses Allow. The navigation to claude.ai's callback is answered
// here (the machine has no network) and its URL printed; brain-mcp's sign-in cookie is
// checked as Chromium stored it.
//
//   node chromium.mjs '{"authorize": URL, "user": ..., "password": ..., "expect": "..."}'
//
// Prints one JSON object: {"callback": URL, "cookie": {...}, "cookie_after": null|{...}}.
import { launch } from './chromium_launch.mjs';

const plan = JSON.parse(process.argv[2]);
const brain = new URL(plan.authorize);
const { context, page, errors, close, fail } = await launch('brain-signin-profile-');
try {
  let callback = null;
  // claude.ai is not reachable from here: its callback is answered by the test.
  await context.route('https://claude.ai/**', (route) => {
    callback = route.request().url();
    return route.fulfill({ status: 200, contentType: 'text/html', body: '<p>claude.ai got the code</p>' });
  });
  await page.goto(plan.authorize);
  await page.getByRole('button', { name: /^Sign in with / }).click();
  // The provider's login form.
  await page.waitForURL((u) => u.host !== brain.host);
  const cookies = await context.cookies(brain.origin);
  const cookie = cookies.find((c) => c.name === 'brain-signin') ?? null;
  await page.fill('input[name="login"]', plan.user);
  await page.fill('input[name="password"]', plan.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Allow' }).click();
  // Back at brain-mcp, signed in.
  await page.waitForURL((u) => u.host === brain.host && u.pathname === '/oauth/oidc/callback');
  const body = await page.textContent('body');
  if (!body.includes(plan.expect)) await fail(`the page back at brain-mcp lacks ${JSON.stringify(plan.expect)}:\n${body}`);
  await page.getByRole('button', { name: 'Allow' }).click();
  await page.waitForURL((u) => u.host === 'claude.ai');
  const after = (await context.cookies(brain.origin)).find((c) => c.name === 'brain-signin') ?? null;
  if (errors.length) await fail(`page errors: ${errors.join('; ')}`);
  console.log(JSON.stringify({ callback, cookie, cookie_after: after }));
} catch (e) {
  await fail(String(e?.stack ?? e));
}
await close();
