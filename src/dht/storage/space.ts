/**
 * The storage reserve: free space kept on the file system of a node's data directory, so that a
 * disk filling up stops new data before the storage engines run out of room.
 *
 * Why: LMDB (lmdb-js 3.5) does not survive a full disk. A commit that fails with ENOSPC rejects
 * its writes, but its error path overruns a heap buffer (a 100-byte message buffer in mdb.c), and
 * the process aborts soon after ("corrupted size vs. prev_size", SIGABRT): measured on a 64 MiB
 * tmpfs, within 0.5–2 s of the disk filling, on 3 nodes out of 4. And a chunk file written to a
 * full disk can come out short while its fsync succeeds. So the node must refuse writes *before*
 * the disk is full, with room left for what frees space.
 *
 * The guard keeps an estimate of the free bytes: the last `statfs` of the directory, minus the
 * bytes it admitted since. `statfs` is a cheap system call (1.7 µs here, no disk I/O): far from
 * the reserve it is repeated at most every `refreshMs`, sooner when the writes admitted since used
 * half the headroom above the reserve; near it (less than twice the reserve and 64 MiB free) and
 * while refusing, before every write, so that a disk another process fills is seen at once.
 * Writes are admitted by kind:
 * - `grow` (new records, records growing by more than a little, new chunks): refused when they
 *   would leave less than the reserve free;
 * - `keep` (deletions, rewrites that do not grow, quarantine moves): refused only below half the
 *   reserve, so that deletes, garbage collection and tombstone expiry go on when the reserve is
 *   reached;
 * - `remove` (an LMDB removal: it frees space, but its commit still writes pages): refused only in
 *   the last bytes (below a quarter of the reserve, at most 16 MiB, or none left), where any
 *   commit could fail. (Removing a file needs no space: chunk files are never refused.)
 * Once a `grow` write was refused, the node refuses them all (state `refusing`, reported to the
 * listeners: the node raises its `DiskFull` alert) until the free space is above the reserve by
 * a margin (an eighth of it, at least 16 MiB), so that it does not flap at the threshold. A write
 * that failed for want of space anyway (another process filled the disk) makes the guard refuse
 * until `statfs` shows room again. Nothing needs a restart: space freed is seen at the next
 * `statfs` (the node's alert monitor also calls {@link SpaceGuard.refresh} periodically).
 */
import { statfsSync } from 'node:fs';
import { DiskFullError } from '../errors.ts';
import type { StoredItem } from '../types.ts';

/** Free and total space of a file system. */
export interface DiskSpace {
  freeBytes: number;
  totalBytes: number;
}

/** What a write does to the space used (see the module comment). */
export type WriteKind = 'grow' | 'keep' | 'remove';

/** Options of a {@link SpaceGuard}. */
export interface SpaceGuardOptions {
  /** A directory on the file system watched. */
  dir: string;
  /** Largest reserve in bytes (0: no reserve). */
  reserveBytes: number;
  /** Largest reserve as a share of the file system's size, in percent (0: no reserve). The reserve is the smaller of the two. */
  reservePercent: number;
  /** The clock (ms), for the refresh interval. */
  now: () => number;
  /** Reads the file system's space (default: `statfs`; tests substitute it). */
  statfs?: (dir: string) => DiskSpace;
  /** Longest time between two readings while writes come. Default 1000 ms. */
  refreshMs?: number;
}

/** What a guard reports (ops API, metrics, alerts). */
export interface SpaceState {
  dir: string;
  /** Free bytes as last estimated (the last reading minus what was admitted since). */
  freeBytes: number;
  totalBytes: number;
  /** The reserve in bytes (0: none). */
  reserveBytes: number;
  /** Whether writes that add data are refused now. */
  refusing: boolean;
  /** Since when (clock ms), while refusing. */
  since?: number;
  /** Writes refused since start, by store (`dht`, `chunks`). */
  refused: Record<string, number>;
  /** When the file system was last read (clock ms), undefined before the first reading. */
  checkedAt?: number;
  /** Why the last reading failed, if it did (the guard then keeps the reading before, or admits everything). */
  error?: string;
}

const MiB = 1024 * 1024;

/** Smallest margin above the reserve before refused writes resume. */
const MIN_RESUME_MARGIN = 16 * MiB;
/** Within this (and twice the reserve) of the reserve, the disk is read before every write. */
const NEAR_MARGIN = 64 * MiB;
/** Largest floor below which even removals are refused. */
const MAX_REMOVE_FLOOR = 16 * MiB;

/** `1.5 GiB` style sizes. */
function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = Math.max(0, n);
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

function realStatfs(dir: string): DiskSpace {
  const st = statfsSync(dir);
  return { freeBytes: st.bavail * st.bsize, totalBytes: st.blocks * st.bsize };
}

/** Whether an error says the disk (or the user's quota on it) is full. */
export function isNoSpaceError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' || code === 28 || code === 122;
}

export class SpaceGuard {
  readonly dir: string;
  private readonly statfs: (dir: string) => DiskSpace;
  private readonly refreshMs: number;
  /** Free bytes at the last reading (Infinity before any). */
  private statFree = Infinity;
  private total = 0;
  /** Bytes admitted since the last reading. */
  private admitted = 0;
  private checkedAt: number | undefined;
  /**
   * Until when (clock ms) a write failed for want of space holds: the disk counts as having
   * nothing free, whatever `statfs` says (a quota, EDQUOT, is not in it), for one refresh interval.
   */
  private failedUntil: number | undefined;
  private error: string | undefined;
  private refusingSince: number | undefined;
  /** Why writes are refused (the message of the errors). */
  private reason = '';
  private readonly refusedBy: Record<string, number> = {};
  private readonly listeners: ((state: SpaceState) => void)[] = [];

  constructor(private readonly options: SpaceGuardOptions) {
    this.dir = options.dir;
    this.statfs = options.statfs ?? realStatfs;
    this.refreshMs = options.refreshMs ?? 1000;
    this.refresh();
  }

  /** The reserve in bytes for the file system's size (0: none). */
  get reserveBytes(): number {
    const { reserveBytes, reservePercent } = this.options;
    if (reserveBytes <= 0 || reservePercent <= 0 || this.total <= 0) return 0;
    return Math.floor(Math.min(reserveBytes, (reservePercent / 100) * this.total));
  }

  /** Whether writes that add data are refused now. */
  get refusing(): boolean {
    return this.refusingSince !== undefined;
  }

  /** Told when the guard starts or stops refusing writes that add data. */
  onChange(listener: (state: SpaceState) => void): void {
    this.listeners.push(listener);
  }

  private get free(): number {
    return this.statFree - this.admitted;
  }

  /**
   * Whether a write of `bytes` more bytes, of `kind`, for `store` may go ahead: undefined if so
   * (its bytes are then counted as used, unless `count` is false: a check ahead of the write,
   * which admits it again), the error to fail it with if not. Never throws.
   */
  admit(bytes: number, kind: WriteKind, store: string, count = true): DiskFullError | undefined {
    this.maybeRefresh();
    const reserve = this.reserveBytes;
    const free = this.free;
    let refused: string | undefined;
    if (kind === 'remove') {
      if (free < Math.min(reserve / 4, MAX_REMOVE_FLOOR) || free <= 0) refused = `${this.where()} has ${formatBytes(free)} free: no write can be committed safely, not even a removal`;
    } else if (kind === 'keep') {
      if (free < reserve / 2 || free <= 0) refused = `${this.where()} has ${formatBytes(free)} free, below half the storage reserve (${formatBytes(reserve)}): only removals are accepted`;
    } else if (this.refusing || free - bytes < reserve) {
      if (!this.refusing) this.startRefusing(`${this.where()} has ${formatBytes(free)} free, the storage reserve is ${formatBytes(reserve)}: writes that add data are refused until space is freed`);
      refused = this.reason;
    }
    if (refused !== undefined) {
      this.refusedBy[store] = (this.refusedBy[store] ?? 0) + 1;
      return new DiskFullError(refused);
    }
    if (count && bytes > 0) this.admitted += bytes;
    return undefined;
  }

  /**
   * A write failed for want of space all the same (ENOSPC: another process filled the disk, or
   * the estimate was off): writes that add data are refused until a reading shows room again.
   */
  failed(err?: unknown): void {
    this.failedUntil = this.options.now() + this.refreshMs;
    this.admitted = Math.max(this.admitted, this.statFree === Infinity ? 0 : this.statFree);
    if (this.statFree === Infinity) this.statFree = 0;
    const what = err === undefined ? '' : ` (${(err as { message?: string })?.message ?? String(err)})`.slice(0, 300);
    if (!this.refusing) this.startRefusing(`${this.where()} is full: a write failed for want of space${what}; writes that add data are refused until space is freed`);
  }

  /** Reads the file system's space now (and stops refusing once there is room again). */
  refresh(): void {
    const now = this.options.now();
    let space: DiskSpace;
    try {
      space = this.statfs(this.dir);
    } catch (err) {
      // Without a reading the guard keeps the last one; without any, it admits everything.
      this.error = (err as Error).message;
      this.checkedAt = now;
      return;
    }
    this.error = undefined;
    this.total = space.totalBytes;
    this.checkedAt = now;
    if (this.failedUntil !== undefined && now < this.failedUntil) return; // a failure holds (see failedUntil)
    this.failedUntil = undefined;
    this.statFree = space.freeBytes;
    this.admitted = 0;
    const reserve = this.reserveBytes;
    if (!this.refusing) {
      if (this.statFree < reserve) this.startRefusing(`${this.where()} has ${formatBytes(this.statFree)} free, below the storage reserve of ${formatBytes(reserve)}: writes that add data are refused until space is freed`);
      return;
    }
    if (this.statFree >= reserve + Math.max(reserve / 8, MIN_RESUME_MARGIN)) {
      this.refusingSince = undefined;
      this.reason = '';
      this.notify();
    }
  }

  private maybeRefresh(): void {
    const reserve = this.reserveBytes;
    if (
      this.checkedAt === undefined ||
      this.options.now() - this.checkedAt >= this.refreshMs ||
      // Near the reserve or refusing: every write (another process may be filling the disk).
      this.refusing ||
      this.free < 2 * reserve + NEAR_MARGIN ||
      // Half the headroom above the reserve used since the last reading.
      this.admitted > (this.statFree - reserve) / 2
    ) {
      this.refresh();
    }
  }

  private startRefusing(reason: string): void {
    this.refusingSince = this.options.now();
    this.reason = reason;
    this.notify();
  }

  private where(): string {
    return `the disk of ${this.dir}`;
  }

  private notify(): void {
    const state = this.state();
    for (const l of this.listeners) l(state);
  }

  /** Why writes are refused, while they are. */
  get refusal(): string | undefined {
    return this.refusing ? this.reason : undefined;
  }

  state(): SpaceState {
    const s: SpaceState = {
      dir: this.dir,
      freeBytes: this.statFree === Infinity ? -1 : Math.max(0, this.free),
      totalBytes: this.total,
      reserveBytes: this.reserveBytes,
      refusing: this.refusing,
      refused: { ...this.refusedBy },
    };
    if (this.refusingSince !== undefined) s.since = this.refusingSince;
    if (this.checkedAt !== undefined) s.checkedAt = this.checkedAt;
    if (this.error !== undefined) s.error = this.error;
    return s;
  }
}

/**
 * A write may rewrite an item with this many more bytes and still count as keeping its size: the
 * operation history and headers of an update vary a little.
 */
const KEEP_SLACK = 1024;

/** Bytes an item takes in a store, roughly (item and index entry, history, encoding overhead). */
export function itemBytes(item: StoredItem): number {
  return 2 * item.k.length + item.b.length + item.t.length + (item.u?.length ?? 0) + item.ct.length + item.op.length + 40 * item.h.length + 96;
}

/**
 * The reserve's verdict on storing `item` where `cur` is held (see {@link SpaceGuard.admit}): an
 * item that adds data (a new key, or a rewrite growing by more than {@link KEEP_SLACK}) is a
 * `grow` write; a tombstone or a rewrite that does not grow, a `keep` write. `count`: false for
 * a check ahead of the write.
 */
export function admitItem(space: SpaceGuard, item: StoredItem, cur: StoredItem | undefined, count: boolean): DiskFullError | undefined {
  const growth = itemBytes(item) - (cur ? itemBytes(cur) : 0);
  const keeps = (cur !== undefined && growth <= KEEP_SLACK) || (item.d && item.b.length <= KEEP_SLACK);
  return space.admit(Math.max(0, growth), keeps ? 'keep' : 'grow', 'dht', count);
}
