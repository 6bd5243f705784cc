// Debian's Chromium (/usr/bin/chromium) for the sign-in tests, through playwright-core:
// headless, a fresh profile in a temporary directory, no sandbox (the tests run as root), no
// GPU, and nothing that reaches for the network on its own (the machine has none). Returns
// {context, page, errors, close, fail}: `errors` collects page errors and console errors,
// `close()` ends the browser and removes the profile, `fail(why)` does that, prints `why` on
// stderr and exits 1.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function launch(prefix) {
  const profile = mkdtempSync(join(tmpdir(), prefix));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const close = async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  };
  const fail = async (why) => {
    await close();
    console.error(why);
    process.exit(1);
  };
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(30000);
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
  });
  return { context, page, errors, close, fail };
}
