/**
 * The node's data directory: where its persistent identity (node id), its generated ops token and
 * (later) its DHT storage live, and the checks that tell whether the directory is still usable.
 *
 * The node id is kept in a small text file, `node-id`. When the DHT's storage engine lands with
 * its own `openNodeStorage(dir)` that keeps the id next to the records, {@link loadOrCreateNodeId}
 * is the one function to switch over.
 */
import { constants, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { Id, azOf, randomNodeId, regionOf } from '../id/index.ts';
import type { Location } from '../id/index.ts';
import type { Random } from '../env/index.ts';

/** Failures to use the data directory at start, with a stable code. */
export class DataDirError extends Error {
  constructor(
    readonly code: 'DataDirUnusable' | 'NodeIdMismatch' | 'CorruptNodeId',
    message: string,
  ) {
    super(message);
    this.name = 'DataDirError';
  }
}

/** The node id and how it was obtained. */
export interface NodeIdentity {
  id: Id;
  /** True when the id was generated now (first start on this directory). */
  created: boolean;
}

const NODE_ID_FILE = 'node-id';

/** Creates the directory (and parents) if needed. */
export async function ensureDir(dir: string): Promise<void> {
  try {
    await fs.mkdir(dir, { recursive: true });
  } catch (err) {
    throw new DataDirError('DataDirUnusable', `cannot create data directory ${dir}: ${(err as Error).message}`);
  }
}

/**
 * Reads the node id kept in `dir`, or makes one (`[region][az][random]` when a location is set) and
 * keeps it. A stored id whose location prefix contradicts the configured location is an error: the
 * node would otherwise serve another region's records.
 */
export async function loadOrCreateNodeId(dir: string, random: Random, location?: Location): Promise<NodeIdentity> {
  const file = join(dir, NODE_ID_FILE);
  let text: string | undefined;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new DataDirError('DataDirUnusable', `cannot read ${file}: ${(err as Error).message}`);
    }
  }
  if (text !== undefined) {
    const id = Id.tryParse(text.trim());
    if (!id) throw new DataDirError('CorruptNodeId', `${file} does not hold a node id (40 hex digits); restore it or remove it to get a new id`);
    if (location && (regionOf(id) !== location.region || azOf(id) !== location.az)) {
      throw new DataDirError(
        'NodeIdMismatch',
        `the node id in ${file} (${id.short()}…) belongs to region ${regionOf(id)} / az ${azOf(id)}, but region ${location.region} / az ${location.az} is configured; use another data directory for a node in another location`,
      );
    }
    return { id, created: false };
  }
  const id = randomNodeId((n) => random.bytes(n), location);
  await writeFileAtomic(file, id.hex + '\n', 0o644);
  return { id, created: true };
}

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

/** Free and total space of the file system holding a directory. */
export interface DiskSpace {
  freeBytes: number;
  totalBytes: number;
}

/** What the alert monitor asks of the file system; tests substitute it. */
export interface DataDirProbe {
  /** Space on the data directory's file system. */
  diskSpace(dir: string): Promise<DiskSpace>;
  /** Undefined when the directory takes writes; otherwise why not. */
  writeError(dir: string): Promise<string | undefined>;
}

/** The real file system. */
export const fsProbe: DataDirProbe = {
  async diskSpace(dir) {
    const st = await fs.statfs(dir);
    return { freeBytes: st.bavail * st.bsize, totalBytes: st.blocks * st.bsize };
  },
  async writeError(dir) {
    const file = join(dir, '.write-probe');
    try {
      await fs.access(dir, constants.W_OK);
      await fs.writeFile(file, 'ok');
      await fs.rm(file, { force: true });
      return undefined;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      return `${e.code ?? 'error'}: ${e.message}`;
    }
  },
};
