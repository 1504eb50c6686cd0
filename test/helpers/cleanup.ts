/**
 * Test teardown: runs every registered cleanup, last registered first, even when one fails, then
 * rethrows the first failure. Stopping at the first failure would leave the resources registered
 * before it (nodes, sockets, timers) alive, and the test file would hang until its timeout instead
 * of reporting the failure.
 */
export async function runCleanups(cleanups: (() => Promise<void>)[]): Promise<void> {
  let first: { error: unknown } | undefined;
  for (const fn of cleanups.reverse()) {
    try {
      await fn();
    } catch (error) {
      first ??= { error };
    }
  }
  cleanups.length = 0;
  if (first) throw first.error;
}
