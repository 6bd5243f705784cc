// The owner signing in to brain-mcp's own pages through the provider in a real browser:
// Debian's Chromium (/usr/bin/chromium), headless, with a fresh profile, driven by
// playwright-core. It opens a note's page while signed out, is sent to /signin, presses
// "Sign in with ...", signs in on the provider's login form, allows on its consent form,
// comes back through brain-mcp's callback and lands on the note, opens the notes list and
// the activity page, signs out, and finds the pages asking for a sign-in again. Chromium
// decides whether the session cookie (SameSite=Strict) goes with the request that follows
// the provider's cross-site redirect, and whether it keeps the Secure __Host- cookie on
// http://127.0.0.1.
//
//   node pages_chromium.mjs '{"start": URL, "user", "password", "expect": "...",
//                             "expectActivity": "...", "screenshot": null|PATH}'
//
// Prints one JSON object: {"landed": URL, "session": {...}, "signin_cookie_after": null|{...},
// "after_sign_out": URL, "session_after_sign_out": null|{...}}.
import { launch } from './chromium_launch.mjs';

const plan = JSON.parse(process.argv[2]);
const start = new URL(plan.start);
const { context, page, errors, close, fail } = await launch('brain-pages-profile-');
const session = async () => (await context.cookies(start.origin)).find((c) => c.name.startsWith('__Host-brain-')) ?? null;
try {
  await page.goto(plan.start);
  // Signed out: the sign-in page, with the way back to the note.
  if (new URL(page.url()).pathname !== '/signin') await fail(`not sent to /signin: ${page.url()}`);
  if (plan.screenshot) await page.screenshot({ path: plan.screenshot, fullPage: true });
  await page.getByRole('button', { name: /^Sign in with / }).click();
  await page.waitForURL((u) => u.host !== start.host);
  await page.fill('input[name="login"]', plan.user);
  await page.fill('input[name="password"]', plan.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Allow' }).click();
  // Back at brain-mcp: the "Signed in" page moves on by itself to the note.
  await page.waitForURL((u) => u.host === start.host && u.pathname === start.pathname);
  const body = await page.textContent('body');
  if (!body.includes(plan.expect)) await fail(`the note page lacks ${JSON.stringify(plan.expect)}:\n${body}`);
  const landed = page.url();
  const cookie = await session();
  const signinAfter = (await context.cookies(start.origin)).find((c) => c.name === 'brain-signin') ?? null;
  // The pages work: the list, and the activity page naming the sign-in.
  await page.getByRole('link', { name: 'Notes', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/notes');
  if (!(await page.textContent('body')).includes(plan.expect)) await fail('the note is not in the list');
  await page.getByRole('link', { name: 'Activity', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/activity');
  const activity = await page.textContent('body');
  if (!activity.includes(plan.expectActivity)) await fail(`the activity page lacks ${JSON.stringify(plan.expectActivity)}:\n${activity}`);
  // Sign out; the pages ask for a sign-in again.
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/');
  await page.goto(`${start.origin}/notes`);
  const afterSignOut = page.url();
  if (!(await page.getByRole('button', { name: /^Sign in with / }).isVisible())) await fail('no sign-in button after sign-out');
  const gone = await session();
  if (errors.length) await fail(`page errors: ${errors.join('; ')}`);
  console.log(JSON.stringify({ landed, session: cookie, signin_cookie_after: signinAfter, after_sign_out: afterSignOut, session_after_sign_out: gone }));
} catch (e) {
  await fail(String(e?.stack ?? e));
}
await close();
