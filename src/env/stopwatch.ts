/**
 * Wall-clock measurement for benchmarks and simulation reports (how long a run took in real
 * time). Lives in the environment layer because it reads the real clock.
 */
export interface Stopwatch {
  /** Real milliseconds since the stopwatch started. */
  elapsedMs(): number;
}

export function startStopwatch(): Stopwatch {
  const start = performance.now();
  return { elapsedMs: () => performance.now() - start };
}

/** Peak resident set size of this process so far, in MB. */
export function peakRssMB(): number {
  return process.resourceUsage().maxRSS / 1024;
}
