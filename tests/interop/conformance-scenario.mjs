// Runs one server scenario of the pinned conformance suite against URL and judges it from the
// suite's own checks.json: every check must be SUCCESS, INFO or WARNING (warnings are printed).
// Usage: node conformance-scenario.mjs SCENARIO URL OUTDIR
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const [scenario, url, outDir] = process.argv.slice(2);
const here = dirname(fileURLToPath(import.meta.url));
const cli = join(here, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');
const r = spawnSync(process.execPath, [cli, 'server', '--url', url, '--scenario', scenario, '-o', outDir], {
  encoding: 'utf8',
  timeout: 90_000,
  env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
});
process.stderr.write((r.stdout ?? '') + (r.stderr ?? ''));
let checks = [];
try {
  const dir = readdirSync(outDir).find((d) => d.startsWith(`server-${scenario}-`));
  checks = JSON.parse(readFileSync(join(outDir, dir, 'checks.json'), 'utf8'));
} catch (e) {
  console.error(`CHECK FAILED: no checks.json from the suite (${e.message}); exit ${r.status} ${r.error ?? ''}`);
  process.exit(1);
}
const bad = checks.filter((c) => !['SUCCESS', 'INFO', 'WARNING'].includes(c.status));
for (const c of checks.filter((c) => c.status !== 'INFO')) {
  console.error(`  ${c.status} ${c.id}: ${c.errorMessage ?? c.description}${c.details ? ' ' + JSON.stringify(c.details) : ''}`);
}
if (bad.length || r.status !== 0 || checks.length === 0) {
  console.error(`CHECK FAILED: ${bad.length} failed check(s), suite exit ${r.status}`);
  process.exit(1);
}
const warn = checks.filter((c) => c.status === 'WARNING').length;
console.log(`${checks.length} checks${warn ? `, ${warn} warning(s)` : ''}`);
