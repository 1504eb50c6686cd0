/** The generated ops token: created once, private to the owner, reused after a restart. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SeededRandom } from '../../src/env/index.ts';
import { DataDirError, loadOrCreateToken } from '../../src/node/index.ts';
import { tempDir } from './fixtures.ts';

test('the ops token is generated once (64 hex digits, mode 0600) and read back afterwards', async (t) => {
  const dir = await tempDir((fn) => t.after(fn));
  const file = join(dir, 'ops-token');
  const first = await loadOrCreateToken(file, new SeededRandom(1));
  assert.equal(first.created, true);
  assert.match(first.token, /^[0-9a-f]{64}$/);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const again = await loadOrCreateToken(file, new SeededRandom(2));
  assert.deepEqual(again, { token: first.token, created: false });
  writeFileSync(file, 'short\n');
  assert.equal((await loadOrCreateToken(file, new SeededRandom(3))).created, true, 'a token too short to be safe is replaced');
  await assert.rejects(loadOrCreateToken(join(dir, 'missing', 'ops-token'), new SeededRandom(4)), (err: Error) => err instanceof DataDirError && err.code === 'DataDirUnusable');
});
