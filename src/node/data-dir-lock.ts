/**
 * One node process per data directory. Two `pi start` on the same directory (a second config file
 * naming it, a second `pi up`, a unit started twice) would open the same store and join the ring
 * under the same node id from two addresses; LMDB allows several processes, so nothing else stops
 * it.
 *
 * The lock is a Unix socket in Linux's abstract namespace named after the directory's real path:
 * binding it is atomic, and the kernel releases it when the process exits however it ends
 * (SIGKILL, crash, power loss), so no stale lock file is ever left behind. The holder's pid is
 * written beside the store (`node.pid`) for the message another process gets.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { DataDirError } from './data-dir-error.ts';

/** A held data-directory lock. */
export interface DataDirLock {
  /** Releases the lock (idempotent). */
  release(): Promise<void>;
}

const PID_FILE = 'node.pid';

/**
 * Takes the lock of `dataDir` (which must exist) for this process; throws {@link DataDirError}
 * `DataDirLocked` when another process holds it.
 */
export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  const real = await fs.realpath(dataDir);
  const name = `\0pi-data-dir-${createHash('sha256').update(real).digest('hex').slice(0, 32)}`;
  const server = net.createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ path: name, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw new DataDirError('DataDirUnusable', `cannot lock data directory ${real}: ${(err as Error).message}`);
    const holder = await fs.readFile(join(real, PID_FILE), 'utf8').then((s) => s.trim(), () => undefined);
    throw new DataDirError(
      'DataDirLocked',
      `data directory ${real} is in use by another Pi node process${holder ? ` (pid ${holder})` : ''}: one node per data directory (stop that one first, or give this node its own "dataDir")`,
    );
  }
  // The lock must not keep the process alive.
  server.unref();
  await fs.writeFile(join(real, PID_FILE), `${process.pid}\n`).catch(() => undefined);
  let released = false;
  return {
    release: async () => {
      if (released) return;
      released = true;
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
