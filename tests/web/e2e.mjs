// The owner's pages in a real browser: Debian's Chromium (/usr/bin/chromium), headless, with a
// fresh profile, driven by playwright-core against the real binary that tests/web.rs started.
// One argument: a JSON object with the server's base URL, the owner password, the static
// token, a client's access token (its grant is revoked here), note ids, an import file and
// where to put downloads and screenshots. Every step asserts what a person would check on
// the page; the client's calls go through Node's own fetch. Prints "ok <step>" per step and
// "ok all steps" at the end; any failure exits 1 with the reason.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const cfg = JSON.parse(process.argv[2]);
const base = cfg.base;
const ok = (step) => console.log(`ok ${step}`);
const profile = mkdtempSync(join(tmpdir(), "brain-web-profile-"));
mkdirSync(cfg.downloads, { recursive: true });

// The flags the machine notes name: no sandbox as root, no GPU, and nothing that reaches for
// the network on its own (this machine's network is closed; Chromium would retry forever).
const context = await chromium.launchPersistentContext(profile, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  acceptDownloads: true,
  downloadsPath: cfg.downloads,
  viewport: { width: 1100, height: 800 },
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const problems = [];
const page = context.pages()[0] ?? (await context.newPage());
// Generous: CI runs this beside the rest of the suite on two shared cores.
page.setDefaultTimeout(30000);
page.setDefaultNavigationTimeout(30000);
page.on("console", (m) => {
  // A CSP refusal or a script error is a failure. Chromium also logs every answer >= 400 as
  // "Failed to load resource"; pages answer 403 and 404 on purpose (a wrong password, a
  // forgotten note), so those are judged by the response check below instead.
  if (m.type() === "error" && !m.text().startsWith("Failed to load resource: the server responded with a status of")) {
    problems.push(`console: ${m.text()}`);
  }
});
page.on("response", (r) => {
  // Our own style sheet, script and icon always load.
  if (r.request().resourceType() !== "document" && r.status() >= 400) {
    problems.push(`${r.request().resourceType()} ${r.url()}: ${r.status()}`);
  }
});
page.on("requestfailed", (r) => {
  // A page load cut short by the next navigation is the test moving on, not a failure.
  if (r.resourceType() !== "document") problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
});
page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
page.on("dialog", (d) => d.accept()); // the revoke button's confirmation
const shot = async (name, opts = {}) =>
  page.screenshot({ path: join(cfg.shots, `${name}.png`), fullPage: true, ...opts });

/// A client's MCP call with a bearer token, through Node's fetch (undici).
async function mcpCall(token, method, params = {}) {
  const r = await fetch(`${base}/mcp`, {
    method: "POST",
    headers: {
      Authorization: `Bearer ${token}`,
      "Content-Type": "application/json",
      Accept: "application/json, text/event-stream",
      "MCP-Protocol-Version": "2025-11-25",
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  return { status: r.status, challenge: r.headers.get("www-authenticate"), body: await r.text() };
}

try {
  // 1. The landing page, then sign in (a wrong password first).
  await page.goto(`${base}/`);
  assert.match(await page.textContent("h1"), /brain-mcp/);
  await shot("landing");
  await page.click("text=Sign in");
  assert.equal(new URL(page.url()).pathname, "/signin");
  await page.fill("#password", "not the password");
  await page.click("button[type=submit]");
  assert.match(await page.textContent("[role=alert]"), /Wrong password/);
  await page.fill("#password", cfg.password);
  await shot("sign-in");
  await page.click("button[type=submit]");
  assert.equal(new URL(page.url()).pathname, "/notes");
  const cookies = await context.cookies();
  assert.equal(cookies.length, 1, JSON.stringify(cookies));
  const c = cookies[0];
  assert.match(c.name, /^__Host-brain-[0-9a-f]{8}$/);
  assert.deepEqual([c.secure, c.httpOnly, c.sameSite, c.path, c.expires], [true, true, "Strict", "/", -1]);
  // Script cannot read it.
  assert.equal(await page.evaluate(() => document.cookie), "");
  ok("signed in over http://127.0.0.1: Chromium kept the __Host- Secure cookie");

  // 2. The list, newest first.
  assert.match(await page.textContent("#summary"), /8 notes in the brain, newest first/);
  const titles = await page.$$eval("ol.notes .title", (as) => as.map((a) => a.textContent));
  assert.equal(titles.length, 8);
  assert.match(titles[0], /^Old note: the spare key/);
  // app.js showed the times in the browser's time zone, UTC in the tooltip.
  const t = await page.$eval("ol.notes time", (el) => [el.textContent, el.title]);
  assert.match(t[1], /UTC$/);
  assert.doesNotMatch(t[0], /UTC$/);
  await shot("notes");
  ok("the list, newest first");

  // 3. Search, with the tool's syntax and a tag filter.
  await page.fill("input[name=q]", "passport photos");
  await page.click("form.search button[type=submit]");
  let results = await page.$$eval("ol.notes li", (lis) => lis.map((li) => li.innerText));
  assert.equal(results.length, 1, results.join("\n---\n"));
  assert.match(results[0], /Passport renewal/);
  const marks = await page.$$eval("ol.notes mark", (ms) => ms.map((m) => m.textContent.toLowerCase()));
  assert.ok(marks.includes("passport") && marks.includes("photos"), marks.join(","));
  await shot("search");
  // A phrase, and a word left out.
  await page.goto(`${base}/notes?q=${encodeURIComponent('"two photos"')}`);
  results = await page.$$eval("ol.notes li", (lis) => lis.length);
  assert.equal(results, 1);
  await page.goto(`${base}/notes?q=${encodeURIComponent("passport -photos")}`);
  results = await page.$$eval("ol.notes li", (lis) => lis.length);
  assert.equal(results, 0, "passport -photos");
  await page.goto(`${base}/notes`);
  await page.click("ol.notes a.tag >> text=travel");
  results = await page.$$eval("ol.notes .title", (as) => as.map((a) => a.textContent));
  assert.equal(results.length, 2, results.join(","));
  assert.equal(await page.inputValue("input[name=tag]"), "travel");
  ok("search and the tag filter");

  // 4. Open a note from the results: its canonical URL.
  await page.goto(`${base}/notes?q=passport`);
  await page.click("ol.notes .title");
  assert.equal(new URL(page.url()).pathname, `/notes/${cfg.passport}`);
  assert.match(await page.textContent("#text"), /bring two photos/);
  ok("the note's page");

  // 5. Edit it; the page then shows the new version, the old one, and what changed.
  await page.click("text=Edit");
  const before = await page.inputValue("#text");
  assert.ok(before.startsWith("Passport renewal"), JSON.stringify(before));
  await page.fill("#text", before.replace("two photos", "three photos"));
  await page.fill("#tags", "travel admin urgent");
  await shot("edit");
  await page.click("form.editor button[type=submit]");
  assert.equal(new URL(page.url()).pathname, `/notes/${cfg.passport}`);
  assert.match(await page.textContent("[role=status]"), /Saved: a new version/);
  assert.match(await page.textContent("#text"), /bring three photos/);
  assert.equal(await page.textContent("#changes del"), "two");
  assert.equal(await page.textContent("#changes .diff ins"), "three");
  assert.match(await page.textContent("#changes"), /Tags: urgent/);
  const rows = await page.$$eval("tbody tr", (trs) => trs.map((tr) => tr.innerText));
  assert.equal(rows.length, 2);
  assert.match(rows[0], /2 \(current\)/);
  // The owner's edit is recorded as the owner's; the first version keeps its writer.
  assert.match(rows[0], /\towner\t/);
  assert.match(rows[1], /\tstatic token\t/);
  assert.equal(await page.textContent("#by"), "owner");
  await shot("note");
  await page.click("tbody tr:nth-child(2) >> text=show");
  assert.match(await page.textContent("[role=status]"), /This is version 1 of 2/);
  assert.match(await page.textContent("#text"), /bring two photos/);
  // A client sees the new version too.
  const rec = await mcpCall(cfg.staticToken, "tools/call", { name: "recall", arguments: { id: cfg.passport } });
  assert.equal(rec.status, 200);
  assert.match(rec.body, /three photos/);
  ok("edit: the new version, the old one and the diff");

  // 6. Forget one, after the confirmation step.
  await page.goto(`${base}/notes/${cfg.forgettable}`);
  await page.click("text=Forget…");
  assert.match(await page.textContent("h1"), /Forget this note\?/);
  await shot("forget");
  await page.click("button.danger >> text=Forget it");
  assert.equal(new URL(page.url()).pathname, "/notes");
  assert.match(await page.textContent("[role=status]"), /forgotten/);
  assert.match(await page.textContent("#summary"), /7 notes/);
  const gone = await page.goto(`${base}/notes/${cfg.forgettable}`);
  assert.equal(gone.status(), 404);
  ok("forget after confirmation");

  // 7. Tags.
  await page.click("nav >> text=Tags");
  const tagTexts = await page.$$eval("ul.tags li", (lis) => lis.map((li) => li.innerText));
  assert.ok(tagTexts.includes("home 2"), tagTexts.join(","));
  await shot("tags");
  ok("tag counts");

  // 8. Connected clients: the grant works, is revoked here, and the next call fails.
  const before401 = await mcpCall(cfg.clientToken, "tools/list");
  assert.equal(before401.status, 200);
  await page.click("nav >> text=Clients");
  const grantRows = await page.$$eval("section:first-of-type tbody tr", (trs) => trs.map((tr) => tr.innerText));
  assert.equal(grantRows.length, 1, grantRows.join("\n"));
  assert.match(grantRows[0], /claude\.ai/);
  assert.match(grantRows[0], /read and write, every space/);
  assert.match(await page.textContent("td.review"), /^off/);
  // 8a. The owner puts the grant under review; the client's next note waits for the owner.
  await page.click("button >> text=Review its writes");
  assert.match(await page.textContent("[role=status]"), /Review is on/);
  assert.match(await page.textContent("td.review"), /^on/);
  const wrote = await mcpCall(cfg.clientToken, "tools/call", {
    name: "remember",
    arguments: { text: "Planted by a client: the owner's bank PIN is 4711", tags: ["planted"] },
  });
  assert.equal(wrote.status, 200, wrote.body);
  assert.match(wrote.body, /"pending":true/);
  const planted = wrote.body.match(/"id":"(n_[0-9a-z]+)"/)[1];
  // Another client does not see it.
  const hidden = await mcpCall(cfg.staticToken, "tools/call", { name: "recall", arguments: { id: planted } });
  assert.match(hidden.body, /"isError":true/);
  await page.click("nav >> text=Pending");
  assert.match(await page.textContent("#summary"), /1 note awaiting review/);
  const item = await page.textContent("ol.notes li");
  assert.match(item, /Planted by a client/);
  assert.match(item, /pending/);
  assert.match(item, /by grant g_/);
  await shot("pending");
  await page.click("ol.notes .title");
  assert.equal(new URL(page.url()).pathname, `/notes/${planted}`);
  assert.equal(await page.textContent("#status"), "pending: awaiting your review");
  assert.match(await page.textContent("#by"), /^grant g_/);
  await shot("note-pending");
  await page.click("#review button >> text=Accept");
  assert.match(await page.textContent("[role=status]"), /Accepted/);
  assert.equal(await page.textContent("#status"), "accepted");
  assert.match(await page.textContent("#by"), /^grant g_/);
  const seen = await mcpCall(cfg.staticToken, "tools/call", { name: "recall", arguments: { id: planted } });
  assert.match(seen.body, /"isError":false/);
  assert.match(seen.body, /Planted by a client/);
  await page.click("nav >> text=Pending");
  assert.match(await page.textContent("#summary"), /No notes wait for review/);
  ok("review: a client's note waits as pending with its writer, the owner accepts it, others see it");
  await page.click("nav >> text=Clients");
  assert.match(await page.textContent("td.wrote"), /Planted by a client/);
  await shot("clients");
  await page.click("button >> text=/^Revoke$/");
  assert.match(await page.textContent("[role=status]"), /The grant was revoked/);
  assert.match(await page.textContent("section:first-of-type"), /No client holds a grant/);
  const after = await mcpCall(cfg.clientToken, "tools/list");
  assert.equal(after.status, 401);
  assert.match(after.challenge, /error="invalid_token"/);
  ok("revoke a grant: that client's next call is 401 invalid_token");

  // 9. Export (a download), then import a file.
  await page.click("nav >> text=Export / import");
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.click("text=Download the export"),
  ]);
  assert.match(download.suggestedFilename(), /^brain-export-.*\.jsonl$/);
  const path = join(cfg.downloads, download.suggestedFilename());
  await download.saveAs(path);
  const lines = readFileSync(path, "utf8").trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines.length, 8);
  const exported = lines.find((n) => n.id === cfg.passport);
  assert.match(exported.text, /three photos/);
  assert.equal(exported.history.length, 1);
  assert.match(exported.history[0].text, /two photos/);
  await page.setInputFiles("#file", cfg.importFile);
  await page.click("form.import button[type=submit]");
  assert.equal(await page.textContent("#import-result pre"), "added 2, skipped 1");
  await shot("transfer");
  await page.goto(`${base}/notes?q=cello`);
  assert.match(await page.textContent("ol.notes"), /Kim: plays the cello/);
  ok("export downloaded, import: added 2, skipped 1");

  // 10. Activity: the latest writes and the sign-ins.
  await page.click("nav >> text=Activity");
  const activity = await page.textContent("main");
  for (const want of ["signed in (owner password)", "wrong password", "edited note", "forgot note", "revoked grant", "imported: added 2, skipped 1", "exported 8 notes", "(this one)", "review on for grant", "accepted note"]) {
    assert.ok(activity.includes(want), `activity lacks ${want}`);
  }
  const firstWrite = await page.$eval("section:first-of-type tbody tr", (tr) => tr.innerText);
  assert.match(firstWrite, /Kim: lives in Ghent|Kim: plays the cello/);
  assert.match(firstWrite, /\timport$/);
  await shot("activity");
  ok("activity");

  // 11. On a phone.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${base}/notes`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the list is ${overflow}px wider than a phone`);
  await shot("phone-notes", { fullPage: false });
  await page.goto(`${base}/notes/${cfg.passport}`);
  const overflow2 = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow2 <= 0, `the note is ${overflow2}px wider than a phone`);
  await shot("phone-note", { fullPage: false });
  await page.goto(`${base}/clients`);
  const overflow3 = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow3 <= 0, `the clients page is ${overflow3}px wider than a phone`);
  await page.setViewportSize({ width: 1100, height: 800 });
  ok("readable on a phone (no sideways scrolling)");

  // 12. Sign out: the cookie is gone and the pages ask for the password again.
  await page.click("text=Sign out");
  await page.waitForURL(`${base}/`);
  await page.waitForLoadState("load");
  assert.match(await page.textContent("main"), /Sign in/);
  assert.equal((await context.cookies()).length, 0);
  await page.goto(`${base}/notes/${cfg.passport}`);
  assert.equal(new URL(page.url()).pathname, "/signin");
  assert.equal(await page.inputValue("input[name=next]"), `/notes/${cfg.passport}`);
  ok("sign-out");

  assert.deepEqual(problems, [], problems.join("\n"));
  ok("no console errors, no CSP refusals");
  console.log("ok all steps");
} catch (e) {
  console.error(`FAILED at ${page.url()}: ${e.stack ?? e}`);
  try {
    await shot("failure");
    console.error(`(screenshot: ${join(cfg.shots, "failure.png")})`);
  } catch {}
  process.exitCode = 1;
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
