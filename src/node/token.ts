/**
 * Small files of the data directory written atomically: the generated ops token. Kept apart from
 * the storage code so that tools (`pi up`) can use it without loading the node.
 */
import { promises as fs } from 'node:fs';
import type { Random } from '../env/index.ts';
import { DataDirError } from './data-dir-error.ts';

/** Reads the ops token from `file`, or generates one (32 random bytes, hex) readable only by the owner. */
export async function loadOrCreateToken(file: string, random: Random): Promise<{ token: string; created: boolean }> {
  try {
    const token = (await fs.readFile(file, 'utf8')).trim();
    if (token.length >= 16) return { token, created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new DataDirError('DataDirUnusable', `cannot read the ops token file ${file}: ${(err as Error).message}`);
    }
  }
  const token = random.hex(32);
  await writeFileAtomic(file, token + '\n', 0o600);
  return { token, created: true };
}

/** Writes through a temporary file and a rename, so a crash never leaves half a file. */
export async function writeFileAtomic(file: string, data: string, mode: number): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    await fs.writeFile(tmp, data, { mode });
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true }).catch(() => {});
    throw new DataDirError('DataDirUnusable', `cannot write ${file}: ${(err as Error).message}`);
  }
}

