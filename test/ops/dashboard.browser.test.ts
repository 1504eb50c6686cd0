/**
 * The dashboard in a real browser (Debian's chromium driven by playwright-core): a ring of five
 * real nodes running s3; the page shows five nodes and their S3 endpoints; one crashes; the page
 * shows four and a departure event.
 * Screenshots go to test-output/dashboard/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startRing, TOKEN, waitFor } from '../node/fixtures.ts';
import { TEST_S3 } from '../cloud/s3/harness.ts';
import type { S3Service } from '../../src/cloud/s3/service.ts';

const CHROMIUM = '/usr/bin/chromium';
const OUT = join('test-output', 'dashboard');

test('the dashboard draws the ring, and shows a crash as one node fewer and a departure event', { timeout: 60_000 }, async (t) => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install it with "apt-get install -y chromium" (.ci/run does)`);
  const nodes = await startRing((fn) => t.after(fn), 5, { apps: ['s3'], s3: TEST_S3 });
  await mkdir(OUT, { recursive: true });
  const profile = await mkdtemp(join(tmpdir(), 'pi-chromium-'));
  // A fresh profile directory (playwright passes it as --user-data-dir).
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1400, height: 1000 },
  });
  // One hook, in this order: after hooks run in the order they were added, and removing the
  // profile while Chromium still writes to it fails with ENOTEMPTY.
  t.after(async () => {
    await browser.close();
    await rm(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  });
  const page = await browser.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));

  await page.goto(`${nodes[0]!.ops!.url}/#token=${TOKEN}`);
  await page.waitForFunction("document.getElementById('node-count')?.textContent === '5'", undefined, { timeout: 15_000 });
  assert.equal(await page.locator('[data-testid="ring-node"]').count(), 5, 'five nodes on the circle');
  assert.equal(await page.locator('[data-testid="nodes"] tbody tr').count(), 5);
  assert.ok(!page.url().includes(TOKEN), 'the token is taken out of the address bar');
  const angles = await page.locator('[data-testid="ring-node"]').evaluateAll((els) => els.map((e) => Math.atan2(Number(e.getAttribute('cx')), -Number(e.getAttribute('cy')))));
  assert.equal(new Set(angles.map((a) => a.toFixed(3))).size, 5, 'each node at its own angle');
  assert.match((await page.locator('#apps').textContent()) ?? '', /dht/);
  // The object storage panel: one row per node running s3, with its endpoint.
  await waitFor(async () => (await page.locator('[data-testid="s3"] tbody tr').count()) === 5, { timeoutMs: 10_000, what: 'five S3 endpoints in the panel' });
  const s3Panel = (await page.locator('#s3').textContent()) ?? '';
  for (const n of nodes) assert.ok(s3Panel.includes(n.node.service<S3Service>('s3')!.endpoint), 'each endpoint is listed');
  assert.match(s3Panel, /0 found, 0 restored/);
  await page.screenshot({ path: join(OUT, 'ring-of-5.png'), fullPage: true });

  const victim = nodes[4]!;
  await victim.stop({ graceful: false }); // a crash, as the others see it
  await page.waitForFunction("document.getElementById('node-count')?.textContent === '4'", undefined, { timeout: 20_000 });
  const departure = page.locator('[data-testid="events"] li[data-type="node.departed"]', { hasText: `node ${victim.node.id.hex.slice(0, 8)} failed` });
  await departure.first().waitFor({ timeout: 20_000 });
  await waitFor(async () => (await page.locator('[data-testid="ring-node"]').count()) === 4, { timeoutMs: 10_000, what: 'four nodes on the circle' });
  await page.screenshot({ path: join(OUT, 'after-crash.png'), fullPage: true });
  assert.deepEqual(pageErrors, [], 'no script errors on the page');
});
