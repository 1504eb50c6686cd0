/**
 * Helpers of the node, ops and CLI tests: a ring CA, node configurations in temporary data
 * directories, and in-process nodes over real loopback TCP with mutual TLS whose logs can be
 * inspected. Overlay timings are shortened so that failures are detected in about a second.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LogStore, MemoryLogger, RealEnv } from '../../src/env/index.ts';
import type { LogEntry } from '../../src/env/index.ts';
import { loadConfig } from '../../src/node/index.ts';
import type { ConfigInput, PiConfig } from '../../src/node/index.ts';
import { createCa, createNodeCert } from '../../src/node/certs.ts';
import type { KeyAndCert } from '../../src/node/certs.ts';
import { launchNode } from '../../src/cli/launch.ts';
import type { LaunchOptions, LaunchedNode } from '../../src/cli/launch.ts';
import { waitFor } from '../helpers/wait.ts';

export { waitFor };

/** Overlay settings that detect a dead neighbour in about 1.5 s (and tolerate a loaded test machine). */
export const FAST_OVERLAY = { heartbeatIntervalMs: 250, suspectAfterMs: 750, probeTimeoutMs: 300, probeAttempts: 2, joinAttemptTimeoutMs: 2000 };

/**
 * A temporary directory removed by `cleanup`. The removal retries: a file written (and renamed
 * into place) by a stopping node while the tree is being removed makes a single pass fail with
 * ENOTEMPTY, and a failed cleanup would leave the test file's remaining nodes running.
 */
export async function tempDir(cleanup: (fn: () => Promise<void>) => void, prefix = 'pi-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  cleanup(() => rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 }));
  return dir;
}

let sharedCa: Promise<KeyAndCert> | undefined;
/** One CA per test process. */
export function ringCa(): Promise<KeyAndCert> {
  sharedCa ??= createCa({ commonName: 'test ring CA' });
  return sharedCa;
}

/** Writes `<dir>/tls/{ca.crt,node.crt,node.key}` issued by `ca` (another CA's certificate can be trusted with `trust`). */
export async function writeCerts(dir: string, ca: KeyAndCert, name: string, trust: KeyAndCert = ca): Promise<void> {
  const issued = await createNodeCert({ caKeyPem: ca.keyPem, caCertPem: ca.certPem, name, hosts: ['127.0.0.1'] });
  await mkdir(join(dir, 'tls'), { recursive: true });
  await writeFile(join(dir, 'tls', 'ca.crt'), trust.certPem);
  await writeFile(join(dir, 'tls', 'node.crt'), issued.certPem);
  await writeFile(join(dir, 'tls', 'node.key'), issued.keyPem, { mode: 0o600 });
}

/** A configuration for a loopback node in `dir` (ephemeral ports, fast overlay). */
export function testConfig(dir: string, overrides: ConfigInput = {}): PiConfig {
  const base: ConfigInput = {
    dataDir: dir,
    bind: '127.0.0.1',
    port: 0,
    // Generous for a loaded 2-core CI machine (joins take well under a second here).
    joinTimeoutMs: 30_000,
    ops: { bind: '127.0.0.1', port: 0, token: 'test-token-0123456789abcdef' },
    overlay: FAST_OVERLAY,
    alerts: { diskMinFreeBytes: 0, diskMinFreePercent: 0 },
    shutdownTimeoutMs: 5000,
  };
  return loadConfig({ flags: merge(base, overrides) });
}

function merge(a: ConfigInput, b: ConfigInput): ConfigInput {
  const out: ConfigInput = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && prev && typeof prev === 'object' && !Array.isArray(prev) ? merge(prev as ConfigInput, v as ConfigInput) : v;
  }
  return out;
}

/** The ops token of {@link testConfig}. */
export const TOKEN = 'test-token-0123456789abcdef';

/** A launched node with its inspectable log. */
export interface TestNode extends LaunchedNode {
  store: LogStore;
  dir: string;
}

/** An env whose log lines are kept in memory. */
export function memoryEnv(level: 'debug' | 'info' = 'info'): { env: RealEnv; store: LogStore } {
  const store = new LogStore(50_000, () => Date.now());
  return { env: new RealEnv({ logger: new MemoryLogger(store, level) }), store };
}

/** Starts a node (TLS with the shared CA unless `insecure`); stopped by `cleanup`. */
export async function startNode(
  cleanup: (fn: () => Promise<void>) => void,
  options: { bootstrap?: string[]; newRing?: boolean; config?: ConfigInput; launch?: LaunchOptions; name?: string; dir?: string } = {},
): Promise<TestNode> {
  const dir = options.dir ?? (await tempDir(cleanup));
  const insecure = (options.config?.['insecure'] as boolean | undefined) ?? false;
  if (!insecure && !options.dir) await writeCerts(dir, await ringCa(), options.name ?? 'node');
  const config = testConfig(dir, { bootstrap: options.bootstrap ?? [], newRing: options.newRing ?? (options.bootstrap ?? []).length === 0, ...options.config });
  const { env, store } = memoryEnv();
  const launched = await launchNode(config, { env, ...options.launch });
  cleanup(() => launched.stop({ graceful: false }));
  return { ...launched, store, dir };
}

/** Starts a ring of `n` nodes, the first creating it; resolves once every leaf set is complete. */
export async function startRing(cleanup: (fn: () => Promise<void>) => void, n: number, config: ConfigInput = {}): Promise<TestNode[]> {
  const first = await startNode(cleanup, { config, name: 'node-0' });
  const rest = await Promise.all(Array.from({ length: n - 1 }, (_, i) => startNode(cleanup, { bootstrap: [first.node.address], config, name: `node-${i + 1}` })));
  const nodes = [first, ...rest];
  // Concurrent joiners can miss each other at first; leaf-set gossip (every 10 heartbeats) closes
  // such a gap, so the deadline covers two gossip rounds on a loaded machine.
  await waitFor(() => nodes.every((x) => x.node.overlay.leafSetMembers().length >= Math.min(n - 1, 24)), { timeoutMs: 25_000, what: `a complete ring of ${n}` });
  return nodes;
}

/** Log entries carrying `code` at warn level or above. */
export function logged(store: LogStore, code: string): LogEntry[] {
  return store.entries.filter((e) => e['code'] === code && (e.level === 'warn' || e.level === 'error' || e.level === 'fatal'));
}

/** GET/POST/PUT a node's ops API with the test token. */
export async function call(url: string, path: string, init: { method?: string; body?: unknown; token?: string | null } = {}): Promise<{ status: number; body: Record<string, unknown>; text: string; headers: Headers }> {
  const headers: Record<string, string> = {};
  const token = init.token === undefined ? TOKEN : init.token;
  if (token !== null) headers['authorization'] = `Bearer ${token}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url + path, { method: init.method ?? 'GET', headers, body: init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body) });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON (metrics, dashboard)
  }
  return { status: res.status, body, text, headers: res.headers };
}
