/**
 * Running a node: the node itself, its ops server, and (for `pi start`) the process around it —
 * signals, the parent's IPC channel (`pi up`), and errors nobody caught.
 */
import { createPinoLogger } from '../env/index.ts';
import type { Logger } from '../env/index.ts';
import { PiNode } from '../node/index.ts';
import type { ApplicationRegistry, NodeService, PiConfig, PiNodeOptions } from '../node/index.ts';
import { OpsServer } from '../ops/index.ts';
import { coreServices, standardApplications } from './services.ts';
import { packageVersion } from './version.ts';

/** A node with its ops server. */
export interface LaunchedNode {
  node: PiNode;
  /** Undefined when `ops.enabled` is false. */
  ops: OpsServer | undefined;
  /** Graceful (default) or immediate stop of node and ops server. */
  stop(options?: { graceful?: boolean }): Promise<void>;
}

/** Options of {@link launchNode}. */
export interface LaunchOptions {
  logger?: Logger;
  env?: PiNodeOptions['env'];
  /** Core services instead of the standard ones. */
  services?: NodeService[];
  applications?: ApplicationRegistry;
  probe?: PiNodeOptions['probe'];
  diskSpace?: PiNodeOptions['diskSpace'];
  /** Join the ring before returning (default true). */
  join?: boolean;
}

/**
 * Creates the node, starts its ops server (so `/health` answers while joining) and joins. On a
 * failure everything started is stopped again before the error is rethrown.
 */
export async function launchNode(config: PiConfig, options: LaunchOptions = {}): Promise<LaunchedNode> {
  const applications = options.applications ?? standardApplications();
  const node = await PiNode.create({
    config,
    applications,
    services: options.services ?? coreServices(config),
    version: packageVersion(),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.env ? { env: options.env } : {}),
    ...(options.probe ? { probe: options.probe } : {}),
    ...(options.diskSpace ? { diskSpace: options.diskSpace } : {}),
  });
  let ops: OpsServer | undefined;
  try {
    if (config.ops.enabled) ops = await OpsServer.start(node, { applications });
    if (options.join ?? true) await node.join();
  } catch (err) {
    await ops?.close();
    await node.stop({ graceful: false });
    throw err;
  }
  let stopping: Promise<void> | undefined;
  return {
    node,
    ops,
    stop(stopOptions = {}) {
      stopping ??= (async () => {
        await node.stop(stopOptions);
        await ops?.close();
      })();
      return stopping;
    },
  };
}

/**
 * `pi start`: runs a node in the foreground until SIGTERM / SIGINT (or, when started by `pi up`,
 * until the parent goes away), then leaves the ring gracefully within `shutdownTimeoutMs`. A
 * second signal exits at once. Resolves with the process exit code.
 */
export async function runForeground(config: PiConfig, onStarted?: (launched: LaunchedNode) => void): Promise<number> {
  const logger = createPinoLogger({ level: config.log.level });
  // Errors that escape every handler are logged and recorded; they do not end the node.
  let launched: LaunchedNode | undefined;
  const onUncaught = (err: unknown, kind: string): void => {
    const e = err as { message?: string; stack?: string; code?: string };
    logger.error({ code: 'UnhandledError', kind, err: { message: e?.message ?? String(err), stack: e?.stack, code: e?.code } }, `${kind}: ${e?.message ?? String(err)}`);
    launched?.node.events.record('error', `${kind}: ${e?.message ?? String(err)}`, { level: 'error' });
  };
  const onException = (err: unknown): void => onUncaught(err, 'uncaught exception');
  const onRejection = (err: unknown): void => {
    // lmdb-js rejects a promise of its own (the batch it starts each event turn) when a commit
    // fails; the writes of that commit reject too and report it (DiskFull, StorageFailed).
    const commitError = (err as { commitError?: unknown } | null)?.commitError;
    if (commitError instanceof Promise) {
      commitError.catch(() => undefined);
      logger.debug({ event: 'lmdb.commitFailed' }, 'an LMDB commit failed (reported by its writes)');
      return;
    }
    onUncaught(err, 'unhandled rejection');
  };
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);

  let stopRequested: ((reason: string) => void) | undefined;
  const stopSignal = new Promise<string>((resolve) => {
    stopRequested = resolve;
  });
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      logger.warn({ event: 'node.forced', signal }, `second ${signal}: exiting now`);
      process.exit(1);
    }
    stopRequested!(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const onDisconnect = (): void => stopRequested!('parent exited');
  if (process.send) process.on('disconnect', onDisconnect);

  try {
    const starting = launchNode(config, { logger });
    // A signal during the join stops the node too.
    const first = await Promise.race([starting.then((l) => ({ l })), stopSignal.then((reason) => ({ reason }))]);
    if ('reason' in first) {
      logger.info({ event: 'node.stopping', reason: first.reason }, `stopping during start (${first.reason})`);
      const l = await starting.catch(() => undefined);
      await l?.stop({ graceful: false });
      return 0;
    }
    launched = first.l;
    onStarted?.(launched);
    process.send?.({ event: 'ready', id: launched.node.id.hex, addr: launched.node.address, opsUrl: launched.ops?.url });
    // A signal, or the node stopping by itself (decommissioned through the ops API).
    const reason = await Promise.race([stopSignal, launched.node.whenStopped().then(() => 'decommissioned')]);
    launched.node.env.log.info({ event: 'node.signal', reason }, `stopping (${reason})`);
    await launched.stop({ graceful: true });
    return 0;
  } catch (err) {
    const e = err as { code?: string; message?: string };
    logger.fatal({ event: 'node.failed', code: e.code ?? 'StartFailed', err: { message: e.message } }, `node failed to start: ${e.message}`);
    throw err;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    process.off('disconnect', onDisconnect);
    process.off('uncaughtException', onException);
    process.off('unhandledRejection', onRejection);
  }
}
