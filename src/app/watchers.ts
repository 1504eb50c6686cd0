/**
 * Watchers: named periodic tasks of an application (the "watcher / supervisor" pattern). Each run
 * is jittered so that the same watcher on many nodes does not fire in lockstep, and a run is
 * skipped while the previous one is still going.
 */
import type { Env, Timer } from '../env/index.ts';
import { AppError } from './errors.ts';

/** A watcher's work; may be async. */
export type WatcherTask = () => void | Promise<void>;

/** Options of one watcher. */
export interface WatcherOptions {
  /** Period between runs (ms). */
  intervalMs: number;
  /** Each delay is scaled by a random factor in [1 - jitter, 1 + jitter]. Default 0.2. */
  jitter?: number;
  /** Delay before the first run (ms). Default: one jittered interval. */
  initialDelayMs?: number;
}

/** What the service reports about a watcher. */
export interface WatcherStatus {
  name: string;
  intervalMs: number;
  runs: number;
  skipped: number;
  failures: number;
  running: boolean;
  lastRunAt: number | undefined;
  lastError: string | undefined;
}

interface Watcher extends WatcherStatus {
  task: WatcherTask;
  jitter: number;
  timer: Timer | undefined;
  /** Bumped on replace/remove so a run in flight does not reschedule a stale generation. */
  generation: number;
}

/** Runs named periodic tasks with jitter; one per application or node. */
export class WatcherService {
  private readonly watchers = new Map<string, Watcher>();
  private stopped = false;

  constructor(private readonly env: Env) {}

  /** Adds a watcher; throws if the name is taken (use {@link replace} to change one). */
  add(name: string, task: WatcherTask, options: WatcherOptions): void {
    if (this.watchers.has(name)) throw new AppError('DuplicateWatcher', `a watcher named "${name}" already exists`);
    this.install(name, task, options, 0);
  }

  /** Adds or replaces a watcher; a run in progress finishes but is not rescheduled. */
  replace(name: string, task: WatcherTask, options: WatcherOptions): void {
    const old = this.watchers.get(name);
    if (old) old.timer?.cancel();
    this.install(name, task, options, (old?.generation ?? 0) + 1);
  }

  /** Removes a watcher; returns whether it existed. */
  remove(name: string): boolean {
    const w = this.watchers.get(name);
    if (!w) return false;
    w.timer?.cancel();
    w.generation++;
    this.watchers.delete(name);
    return true;
  }

  /** Runs a watcher now (e.g. eager recovery after a node departure), unless it is running. */
  async runNow(name: string): Promise<boolean> {
    const w = this.watchers.get(name);
    if (!w) return false;
    return this.run(w, false);
  }

  status(): WatcherStatus[] {
    return [...this.watchers.values()].map(({ name, intervalMs, runs, skipped, failures, running, lastRunAt, lastError }) => ({
      name,
      intervalMs,
      runs,
      skipped,
      failures,
      running,
      lastRunAt,
      lastError,
    }));
  }

  /** Cancels every watcher. */
  stop(): void {
    this.stopped = true;
    for (const w of this.watchers.values()) {
      w.timer?.cancel();
      w.generation++;
    }
    this.watchers.clear();
  }

  private install(name: string, task: WatcherTask, options: WatcherOptions, generation: number): void {
    if (!(options.intervalMs > 0)) throw new AppError('InvalidArgument', `watcher "${name}" needs a positive interval, got ${options.intervalMs}`);
    const w: Watcher = {
      name,
      task,
      intervalMs: options.intervalMs,
      jitter: options.jitter ?? 0.2,
      runs: 0,
      skipped: 0,
      failures: 0,
      running: false,
      lastRunAt: undefined,
      lastError: undefined,
      timer: undefined,
      generation,
    };
    this.watchers.set(name, w);
    this.schedule(w, options.initialDelayMs);
  }

  private schedule(w: Watcher, delay?: number): void {
    if (this.stopped) return;
    const generation = w.generation;
    const ms = delay ?? this.env.random.jitter(w.intervalMs, w.jitter);
    w.timer = this.env.setTimeout(() => {
      if (this.watchers.get(w.name) !== w || w.generation !== generation) return;
      void this.run(w, true);
    }, ms);
  }

  /** One run; skipped (and counted) if the previous is still going. */
  private async run(w: Watcher, reschedule: boolean): Promise<boolean> {
    const generation = w.generation;
    if (w.running) {
      w.skipped++;
      if (reschedule) this.schedule(w);
      return false;
    }
    w.running = true;
    w.lastRunAt = this.env.now();
    if (reschedule) this.schedule(w);
    try {
      await w.task();
      w.runs++;
    } catch (err) {
      w.failures++;
      w.lastError = (err as Error)?.message ?? String(err);
      this.env.log.error({ code: 'WatcherFailed', watcher: w.name, err: { message: w.lastError, code: (err as { code?: string })?.code } }, 'watcher run failed');
    } finally {
      if (w.generation === generation) w.running = false;
    }
    return true;
  }
}
