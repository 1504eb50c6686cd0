/**
 * The chunk scrubber: silent disk corruption (bit rot, a torn or truncated file, a file gone) is
 * found before a client or a repair needs the chunk. Each node walks its own chunks in hash
 * order, re-reads every file and checks its SHA-256 against the chunk's name, at a bounded rate
 * (`bytesPerSecond`) so that scrubbing never competes with requests for the disk. A damaged copy
 * is quarantined and restored from a replica's verified copy ({@link ChunkStore.damaged}).
 *
 * A pass starts `intervalMs` after the previous one started (after the node first ran, for the
 * first); the pass's position is saved in `stateFile` as it goes, so a restarted node resumes its
 * pass instead of starting over (a node restarted more often than a pass lasts would otherwise
 * never finish one). A pass can also be started at once (the ops API, `pi s3 scrub`).
 *
 * Time, timers and sleeps come from the env; reads reuse one buffer.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import type { Env, Logger, Timer } from '../../../env/index.ts';
import type { ChunkStore } from './store.ts';

/** Tunables of the scrubber (`s3.scrub.*`). */
export interface ScrubOptions {
  /** Scrub in the background (a pass can always be started by hand). */
  enabled: boolean;
  /** Most bytes read per second by the scrubber (0: no limit). */
  bytesPerSecond: number;
  /** A pass starts this long after the previous one started. */
  intervalMs: number;
}

export const DEFAULT_SCRUB_OPTIONS: ScrubOptions = { enabled: true, bytesPerSecond: 16 * 1024 * 1024, intervalMs: 7 * 24 * 3600 * 1000 };

/** What the scrubber has done, for the ops API and metrics. */
export interface ScrubStats {
  running: boolean;
  /** Passes finished since the node started. */
  passes: number;
  /** Chunks and bytes checked since the node started. */
  chunks: number;
  bytes: number;
  /** Damaged copies the scrubber found since the node started. */
  corrupt: number;
  /** The pass under way (or interrupted): when it started, the last chunk checked. */
  passStartedAt?: number;
  cursor?: string;
  /** The last pass finished (on this node, across restarts). */
  lastPassStartedAt?: number;
  lastPassFinishedAt?: number;
  /** When the next pass is due (background scrubbing on). */
  nextPassAt?: number;
}

/** The summary of one pass. */
export interface ScrubPassResult {
  startedAt: number;
  finishedAt: number;
  /** Whether the pass went through every chunk (false: the node is stopping). */
  complete: boolean;
  chunks: number;
  bytes: number;
  corrupt: number;
  restored: number;
  unrestored: number;
}

/** What is kept across restarts. */
interface ScrubState {
  firstSeenAt: number;
  passStartedAt?: number;
  cursor?: string;
  lastPassStartedAt?: number;
  lastPassFinishedAt?: number;
}

/** How often the scrubber checks whether a pass is due. */
const CHECK_MS = 60_000;
/** How often a pass saves its position. */
const SAVE_MS = 10_000;
/** Bytes read at a time. */
const PIECE = 1024 * 1024;

export class ChunkScrubber {
  private readonly log: Logger;
  private readonly counters = { passes: 0, chunks: 0, bytes: 0, corrupt: 0 };
  private state: ScrubState;
  private timer: Timer | undefined;
  private current: Promise<ScrubPassResult> | undefined;
  private stopped = false;
  private readonly buffer = Buffer.allocUnsafe(PIECE);

  constructor(
    private readonly env: Env,
    private readonly store: ChunkStore,
    readonly options: ScrubOptions,
    /** Where the pass's position is kept across restarts; undefined: in memory only. */
    private readonly stateFile?: string,
  ) {
    this.log = env.log.child({ mod: 's3.scrub' });
    this.state = this.load();
  }

  /** Starts background scrubbing (when enabled): passes run when due. */
  start(): void {
    if (!this.options.enabled || this.timer || this.stopped) return;
    void this.save();
    this.timer = this.env.setInterval(() => {
      if (this.due()) void this.runPass();
    }, CHECK_MS);
  }

  /** Stops: no new pass; the running one ends after the chunk it is reading. */
  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  get stats(): ScrubStats {
    const s = this.state;
    return {
      running: this.current !== undefined,
      ...this.counters,
      ...(s.passStartedAt !== undefined ? { passStartedAt: s.passStartedAt } : {}),
      ...(s.cursor !== undefined ? { cursor: s.cursor } : {}),
      ...(s.lastPassStartedAt !== undefined ? { lastPassStartedAt: s.lastPassStartedAt } : {}),
      ...(s.lastPassFinishedAt !== undefined ? { lastPassFinishedAt: s.lastPassFinishedAt } : {}),
      ...(this.options.enabled ? { nextPassAt: this.nextPassAt() } : {}),
    };
  }

  /**
   * Runs a pass now (or joins the one running), resuming an interrupted pass where it stopped.
   * Resolves with its summary.
   */
  runPass(): Promise<ScrubPassResult> {
    this.current ??= this.pass().finally(() => {
      this.current = undefined;
    });
    return this.current;
  }

  private nextPassAt(): number {
    if (this.state.cursor !== undefined) return this.state.passStartedAt ?? this.env.now();
    return (this.state.lastPassStartedAt ?? this.state.firstSeenAt) + this.options.intervalMs;
  }

  private due(): boolean {
    return !this.stopped && this.current === undefined && this.env.now() >= this.nextPassAt();
  }

  private async pass(): Promise<ScrubPassResult> {
    const started = this.state.passStartedAt ?? this.env.now();
    const resumeAfter = this.state.cursor;
    this.state.passStartedAt = started;
    const result: ScrubPassResult = { startedAt: started, finishedAt: started, complete: false, chunks: 0, bytes: 0, corrupt: 0, restored: 0, unrestored: 0 };
    this.log.info({ event: 's3.scrubStarted', resumeAfter: resumeAfter ?? null, chunks: this.store.engine.count }, resumeAfter ? `chunk scrub resumed after ${resumeAfter.slice(0, 12)}` : 'chunk scrub started');
    // The rate limit: the bytes read so far may not run ahead of the time spent.
    const clock = { since: this.env.now(), bytes: 0 };
    let savedAt = this.env.now();
    for (const [hash, meta] of this.store.engine.entries()) {
      if (resumeAfter !== undefined && hash <= resumeAfter) continue;
      if (this.stopped) {
        await this.save();
        return result;
      }
      const outcome = await this.check(hash, meta.n, clock);
      result.chunks++;
      result.bytes += outcome.bytes;
      if (outcome.damaged) {
        result.corrupt++;
        this.counters.corrupt++;
        const restored = await this.store.damaged(hash, 'scrub');
        if (restored === 'restored') result.restored++;
        else if (restored === 'unrestored') result.unrestored++;
      }
      this.counters.chunks++;
      this.counters.bytes += outcome.bytes;
      this.state.cursor = hash;
      if (this.env.now() - savedAt >= SAVE_MS) {
        savedAt = this.env.now();
        await this.save();
      }
    }
    result.complete = true;
    result.finishedAt = this.env.now();
    this.counters.passes++;
    this.state = { firstSeenAt: this.state.firstSeenAt, lastPassStartedAt: started, lastPassFinishedAt: result.finishedAt };
    await this.save();
    const level = result.corrupt > 0 ? 'warn' : 'info';
    this.log[level](
      { event: 's3.scrubFinished', ...result },
      `chunk scrub finished: ${result.chunks} chunks, ${result.corrupt} damaged (${result.restored} restored, ${result.unrestored} not restored)`,
    );
    return result;
  }

  /** Reads one chunk whole and checks its hash; a read error counts as damage. */
  private async check(hash: string, size: number, clock: { since: number; bytes: number }): Promise<{ bytes: number; damaged: boolean }> {
    const reader = this.store.engine.reader(hash);
    if (!reader) return { bytes: 0, damaged: false }; // removed meanwhile
    const hasher = createHash('sha256');
    let at = 0;
    try {
      for (;;) {
        const n = await reader.read(this.buffer, PIECE, at);
        if (n === 0) break;
        hasher.update(this.buffer.subarray(0, n));
        at += n;
        clock.bytes += n;
        await this.throttle(clock);
      }
    } catch (err) {
      // The chunk was quarantined or collected meanwhile: nothing to check.
      if (!this.store.engine.stat(hash)) return { bytes: at, damaged: false };
      this.log.warn({ code: 'ChunkReadFailed', hash, err: (err as Error).message }, `chunk ${hash.slice(0, 12)} could not be read`);
      return { bytes: at, damaged: true };
    } finally {
      await reader.close().catch(() => {});
    }
    return { bytes: at, damaged: at !== size || hasher.digest('hex') !== hash };
  }

  private async throttle(clock: { since: number; bytes: number }): Promise<void> {
    const rate = this.options.bytesPerSecond;
    if (rate <= 0) return;
    const ahead = (clock.bytes / rate) * 1000 - (this.env.now() - clock.since);
    if (ahead > 0) await this.env.sleep(ahead);
  }

  private load(): ScrubState {
    const fresh: ScrubState = { firstSeenAt: this.env.now() };
    if (!this.stateFile) return fresh;
    try {
      const raw = JSON.parse(readFileSync(this.stateFile, 'utf8')) as Partial<ScrubState>;
      if (typeof raw.firstSeenAt !== 'number') return fresh;
      const s: ScrubState = { firstSeenAt: raw.firstSeenAt };
      if (typeof raw.passStartedAt === 'number') s.passStartedAt = raw.passStartedAt;
      if (typeof raw.cursor === 'string' && /^[0-9a-f]{64}$/.test(raw.cursor)) s.cursor = raw.cursor;
      if (typeof raw.lastPassStartedAt === 'number') s.lastPassStartedAt = raw.lastPassStartedAt;
      if (typeof raw.lastPassFinishedAt === 'number') s.lastPassFinishedAt = raw.lastPassFinishedAt;
      return s;
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENOENT') this.log.warn({ code: 'ScrubStateUnreadable', file: this.stateFile, err: (err as Error).message }, 'the scrubber state is unreadable; starting afresh');
      return fresh;
    }
  }

  private async save(): Promise<void> {
    if (!this.stateFile) return;
    try {
      // Written aside and renamed: a crash mid-write leaves the previous state, not half of one.
      await writeFile(`${this.stateFile}.tmp`, `${JSON.stringify(this.state)}\n`);
      await rename(`${this.stateFile}.tmp`, this.stateFile);
    } catch (err) {
      this.log.warn({ code: 'ScrubStateUnwritable', file: this.stateFile, err: (err as Error).message }, 'could not save the scrubber state');
    }
  }
}
