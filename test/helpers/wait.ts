/**
 * Waiting in real time for a condition, with a deadline (tests never sleep for a fixed time).
 * For virtual time use `scheduler.runUntilTrue` instead.
 */

export interface WaitOptions {
  /** Give up after this many ms of real time. Default 5000. */
  timeoutMs?: number;
  /** Poll period in ms. Default 2. */
  intervalMs?: number;
  /** Named in the error when the deadline passes. */
  what?: string;
}

/**
 * Resolves with the first truthy value `condition()` returns (it may be async); rejects when
 * `timeoutMs` pass first, naming `what` and including the last error the condition threw.
 */
export async function waitFor<T>(condition: () => T | Promise<T>, options: WaitOptions = {}): Promise<NonNullable<T>> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const intervalMs = options.intervalMs ?? 2;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const reason = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${options.what ?? 'condition'}${reason}`, {
        cause: lastError,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
