/** The data-directory lock: one process per directory, released however its holder ends. */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { lockDataDir } from '../../src/node/data-dir-lock.ts';
import { tempDir } from './fixtures.ts';

const LOCK_MODULE = join(import.meta.dirname, '..', '..', 'src', 'node', 'data-dir-lock.ts');

describe('data directory lock', () => {
  test('a second holder is refused with the first one\'s pid; released, the directory can be locked again', async (t) => {
    const dir = await tempDir((fn) => t.after(fn));
    const lock = await lockDataDir(dir);
    await assert.rejects(lockDataDir(dir), (err: Error & { code?: string }) => err.code === 'DataDirLocked' && err.message.includes(`pid ${process.pid}`));
    await lock.release();
    await lock.release();
    const again = await lockDataDir(dir);
    await again.release();
  });

  test('a holder killed with SIGKILL leaves no lock behind', async (t) => {
    const dir = await tempDir((fn) => t.after(fn));
    const script = `import { lockDataDir } from ${JSON.stringify(LOCK_MODULE)}; await lockDataDir(${JSON.stringify(dir)}); console.log('locked'); setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.after(() => void child.kill('SIGKILL'));
    const [line] = (await once(child.stdout, 'data')) as [Buffer];
    assert.equal(line.toString().trim(), 'locked');
    await assert.rejects(lockDataDir(dir), (err: Error & { code?: string }) => err.code === 'DataDirLocked' && err.message.includes(`pid ${child.pid}`));
    child.kill('SIGKILL');
    await once(child, 'exit');
    const lock = await lockDataDir(dir);
    await lock.release();
  });
});
