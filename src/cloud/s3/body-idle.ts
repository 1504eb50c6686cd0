/**
 * Stalled request bodies. An upload whose client stops sending (a dead client behind a NAT that
 * never resets, a slowloris) would otherwise hold its connection and its request for ever: the
 * endpoint has no overall request timeout, since a 5 GiB upload may rightly take an hour. The
 * watch times out a body that makes no progress for `idleMs` while the node is ready to read
 * it — a body the node is not reading (its buffer full: the node is busy storing what came) is
 * not the client's fault and is never timed out.
 */
import type { IncomingMessage } from 'node:http';
import type { Env, Timer } from '../../env/index.ts';

/** Whether `req` has a body still to come. */
export function bodyExpected(req: IncomingMessage): boolean {
  if (req.complete) return false;
  const length = req.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}

/**
 * Calls `onIdle` once if no byte of `req` arrives for `idleMs` while the node reads it; stops
 * by itself when the body ends or the request goes away. Returns a function that stops it.
 */
export function watchBodyIdle(env: Env, req: IncomingMessage, idleMs: number, onIdle: () => void): () => void {
  const socket = req.socket;
  let lastBytes = socket.bytesRead;
  let lastProgress = env.now();
  let timer: Timer | undefined;
  const stop = (): void => {
    timer?.cancel();
    timer = undefined;
  };
  // Checked four times per period: a stalled body is caught between 1 and 1.25 periods.
  timer = env.setInterval(() => {
    if (req.complete || req.destroyed || socket.destroyed) {
      stop();
      return;
    }
    const now = env.now();
    const bytes = socket.bytesRead;
    // Not yet read by the node (a request still being authorized, or one waiting for its 100
    // Continue), or read no further for now (its buffer full): the client is not the one waiting.
    const notReading = req.readableFlowing === null || req.readableLength >= req.readableHighWaterMark;
    if (bytes !== lastBytes || notReading) {
      lastBytes = bytes;
      lastProgress = now;
      return;
    }
    if (now - lastProgress >= idleMs) {
      stop();
      onIdle();
    }
  }, Math.max(25, Math.floor(idleMs / 4)));
  return stop;
}
