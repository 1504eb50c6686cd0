/**
 * The schedule of the S3 application's background sweeps (collector, lifecycle, replication):
 * one pass at a time, the next starting a jittered period after the last one ended, so nodes
 * started together drift apart and a slow pass never overlaps the next.
 */
import type { Env, Timer } from '../../env/index.ts';

/**
 * Runs `pass` every `periodMs` (±20 %) after the previous pass settled, until the returned timer
 * is cancelled. A pass that rejects is the pass's own business (it logs); the schedule goes on.
 */
export function sweepEvery(env: Env, periodMs: number, pass: () => Promise<unknown>): Timer {
  let cancelled = false;
  let timer: Timer | undefined;
  const schedule = (): void => {
    if (cancelled) return;
    timer = env.setTimeout(() => {
      void pass()
        .catch(() => {})
        .finally(schedule);
    }, env.random.jitter(periodMs, 0.2));
  };
  schedule();
  return {
    cancel: () => {
      cancelled = true;
      timer?.cancel();
    },
  };
}
