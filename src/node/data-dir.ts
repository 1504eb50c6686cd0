/**
 * The node's data directory: where its persistent identity (node id), its generated ops token and
 * (later) its DHT storage live, and the checks that tell whether the directory is still usable.
 *
 * The node id is kept in the meta database of the node's LMDB storage (the DHT's
 * `openNodeStorage`), next to its records: a node restarted on the same directory keeps both.
 */
import { constants, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { azOf, randomNodeId, regionOf } from '../id/index.ts';
import type { Id, Location } from '../id/index.ts';
import type { Random } from '../env/index.ts';
import { openNodeStorage } from '../dht/index.ts';
import type { LmdbStorage } from '../dht/index.ts';
import { DataDirError } from './data-dir-error.ts';
import { lockDataDir } from './data-dir-lock.ts';

export { DataDirError } from './data-dir-error.ts';

/** Creates the directory (and parents) if needed. */
export async function ensureDir(dir: string): Promise<void> {
  try {
    await fs.mkdir(dir, { recursive: true });
  } catch (err) {
    throw new DataDirError('DataDirUnusable', `cannot create data directory ${dir}: ${(err as Error).message}`);
  }
}

/** The node's identity and storage, opened from its data directory. */
export interface NodeData {
  id: Id;
  /** True when the id was generated now (first start on this directory). */
  created: boolean;
  /** The node's LMDB storage (DHT records; the node id in its meta database). */
  storage: LmdbStorage;
  /** Where the storage lives (`<dataDir>/dht`). */
  storageDir: string;
}

/**
 * Opens the node's storage in `<dataDir>/dht` and its id kept there, making an id on first start
 * (`[region][az][random]` when a location is set). A stored id whose location prefix contradicts
 * the configured location is an error: the node would otherwise serve another region's records.
 * The directory is locked for this process until the storage is closed (`DataDirLocked` when
 * another process holds it: see data-dir-lock.ts).
 */
export async function openNodeData(dataDir: string, random: Random, location?: Location): Promise<NodeData> {
  const storageDir = join(dataDir, 'dht');
  const lock = await lockDataDir(dataDir);
  let opened;
  try {
    opened = await openNodeStorage(storageDir, { createId: () => randomNodeId((n) => random.bytes(n), location) });
    opened.storage.afterClose = () => lock.release();
  } catch (err) {
    await lock.release();
    const message = (err as Error).message;
    if (/malformed node id/.test(message)) throw new DataDirError('CorruptNodeId', `${message}; restore the data directory from a backup or use a new one`);
    throw new DataDirError('DataDirUnusable', `cannot open the node's storage in ${storageDir}: ${message}`);
  }
  const { nodeId: id, storage, created } = opened;
  if (location && (regionOf(id) !== location.region || azOf(id) !== location.az)) {
    await storage.close();
    throw new DataDirError(
      'NodeIdMismatch',
      `the node id kept in ${storageDir} (${id.short()}…) belongs to region ${regionOf(id)} / az ${azOf(id)}, but region ${location.region} / az ${location.az} is configured; use another data directory for a node in another location`,
    );
  }
  return { id, created, storage, storageDir };
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
