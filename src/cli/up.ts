/**
 * `pi up`: a local development ring of N nodes, each a separate `pi start` process on loopback,
 * with mutual TLS from a throwaway CA, one shared ops token, the standard applications and the
 * dashboard. Prints where to look once every node has joined and the dashboard answers; Ctrl-C
 * (or SIGTERM) stops all nodes gracefully.
 *
 * Children run exactly as this process runs (same Node.js flags, e.g. `--import tsx` from source,
 * or the compiled JavaScript), in their own process group so that a terminal's Ctrl-C reaches only
 * this process, which then stops them in order. If this process dies, each child notices its IPC
 * channel closing and leaves the ring by itself.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { openSync, closeSync, promises as fs } from 'node:fs';
import net from 'node:net';
import { dirname, join, relative, resolve } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { RealEnv, silentLogger } from '../env/index.ts';
import { loadOrCreateToken } from '../node/token.ts';
import { STANDARD_APPLICATIONS } from './standard-apps.ts';
import { DEV_RING_DIR, RING_FILE, readRingFile } from './client.ts';
import type { DevRingFile } from './client.ts';
import { caPaths, hasValidNodeCert, readCa, writeCa, writeNodeCert } from './cert-files.ts';
import { CliError, table } from './output.ts';
import type { Output } from './output.ts';

/** Options of {@link runUp}. */
export interface UpOptions {
  nodes: number;
  basePort: number;
  opsBasePort: number;
  /** Port of node 0's S3 endpoint when the `s3` application runs (node i uses base + i). */
  s3BasePort: number;
  dataDir: string;
  /** Applications on every node; undefined: all standard applications. */
  apps: string[] | undefined;
  insecure: boolean;
  /** Serve S3 over HTTPS with a certificate from the ring's throwaway CA. */
  s3Tls: boolean;
  fresh: boolean;
  logLevel: string;
  /** Give up if the ring is not up within this long. */
  readyTimeoutMs: number;
}

interface Child {
  index: number;
  proc: ChildProcess;
  dir: string;
  log: string;
  port: number;
  opsPort: number;
  id?: string;
  opsUrl?: string;
  exited: boolean;
  exitCode: number | null;
  ready: Promise<{ id: string; opsUrl: string }>;
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolvePort) => {
    const server = net.createServer();
    server.once('error', () => resolvePort(false));
    server.listen({ host: '127.0.0.1', port }, () => server.close(() => resolvePort(true)));
  });
}

/** Last lines of a log file, for error messages. */
async function tail(file: string, lines = 8): Promise<string> {
  try {
    const text = await fs.readFile(file, 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** The config file `pi up` writes for node `index` of the ring in `dir`, and starts it with. */
function nodeConfigFile(dir: string, index: number): string {
  return join(dir, `node-${index}`, 'pi.yaml');
}

/**
 * Pids of the nodes of a dev ring still running on `dir`: those its ring file lists whose process
 * is still `pi start --config <dir>/node-i/pi.yaml` (a pid since reused by another program, or a
 * ring file left by a killed `pi up`, does not count).
 */
export async function runningDevNodes(dir: string): Promise<number[]> {
  const ring = readRingFile(dir);
  const running: number[] = [];
  for (const n of ring?.nodes ?? []) {
    let args: string[];
    try {
      args = (await fs.readFile(`/proc/${n.pid}/cmdline`, 'utf8')).split('\0');
    } catch {
      continue; // no such process
    }
    if (args.includes(nodeConfigFile(dir, n.index))) running.push(n.pid);
  }
  return running;
}

/** The arguments that start this same program again (flags such as `--import tsx` included). */
function selfCommand(): string[] {
  const script = process.argv[1];
  if (!script) throw new CliError('NoScript', 'cannot tell how this program was started (no script path)');
  return [...process.execArgv, script];
}

/** Environment for the children: without PI_* variables, which would override their config files. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PI_')) env[k] = v;
  return env;
}

/**
 * Runs the dev ring until a signal; resolves with the exit code. `onReady` is for tests.
 */
export async function runUp(options: UpOptions, out: Output): Promise<number> {
  const env = new RealEnv({ logger: silentLogger });
  const started = env.now();
  const n = options.nodes;
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new CliError('InvalidArgument', `--nodes must be 1..64, got ${options.nodes}`, 2);
  if (options.s3Tls && options.insecure) throw new CliError('InvalidArgument', '--s3-tls needs the ring CA, which --insecure does without', 2);
  const dir = resolve(options.dataDir);
  // A second ring on the same directory would run a second process on each node's data (same
  // node ids, same stores), on other ports; --fresh would delete the running ring's files.
  const running = await runningDevNodes(dir);
  if (running.length > 0) {
    throw new CliError(
      'RingRunning',
      `a dev ring is already running in ${dir} (node pid${running.length > 1 ? 's' : ''} ${running.join(', ')}): stop it first (Ctrl-C where it runs), or give another ring its own --data-dir and --base-port`,
    );
  }

  const apps = options.apps ?? STANDARD_APPLICATIONS.map((a) => a.name);
  const s3 = apps.includes('s3');
  const busy: number[] = [];
  for (let i = 0; i < n; i++) {
    const ports = [options.basePort + i, options.opsBasePort + i, ...(s3 ? [options.s3BasePort + i] : [])];
    for (const p of ports) if (!(await portFree(p))) busy.push(p);
  }
  if (busy.length > 0) {
    throw new CliError('PortInUse', `port${busy.length > 1 ? 's' : ''} ${busy.join(', ')} ${busy.length > 1 ? 'are' : 'is'} in use (another ring running?); choose others with --base-port / --ops-base-port / --s3-base-port`);
  }
  if (options.fresh) await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(dir, { recursive: true });

  // Throwaway CA and node certificates (kept across runs of the same data directory).
  const caDir = join(dir, 'ca');
  if (!options.insecure) {
    const ca = caPaths(caDir);
    const haveCa = await fs.access(ca.cert).then(
      () => true,
      () => false,
    );
    if (!haveCa) {
      await writeCa(caDir, { name: 'Pi dev ring CA' });
      out.progress('ca.created', `created a throwaway CA in ${caDir}`);
    }
  }
  const token = (await loadOrCreateToken(join(dir, 'ops-token'), env.random)).token;
  const caPem = options.insecure ? '' : (await readCa(caDir)).certPem;
  // One certificate for every node's S3 endpoint: loopback addresses, and virtual-hosted names
  // under s3.localhost and website names under s3-website.localhost (a wildcard over `localhost`
  // alone is not matched by TLS clients).
  const s3TlsDir = join(dir, 's3-tls');
  const s3Tls = s3 && options.s3Tls ? { cert: join(s3TlsDir, 'node.crt'), key: join(s3TlsDir, 'node.key'), ca: join(s3TlsDir, 'ca.crt') } : undefined;
  if (s3Tls && !(await hasValidNodeCert(s3TlsDir, caPem, env.now()))) {
    await writeNodeCert(caDir, s3TlsDir, 'pi-dev-s3', { hosts: ['127.0.0.1', '::1', 'localhost', 's3.localhost', '*.s3.localhost', '*.s3-website.localhost'], force: true });
  }

  const children: Child[] = [];
  const spawnNode = async (i: number): Promise<Child> => {
    const configFile = nodeConfigFile(dir, i);
    const nodeDir = dirname(configFile);
    await fs.mkdir(nodeDir, { recursive: true });
    if (!options.insecure && !(await hasValidNodeCert(join(nodeDir, 'tls'), caPem, env.now()))) {
      await writeNodeCert(caDir, join(nodeDir, 'tls'), `pi-dev-${i}`, { hosts: ['127.0.0.1', 'localhost'], force: true });
    }
    const config = {
      dataDir: '.',
      bind: '127.0.0.1',
      port: options.basePort + i,
      bootstrap: i === 0 ? [] : [`127.0.0.1:${options.basePort}`],
      newRing: i === 0,
      joinTimeoutMs: options.readyTimeoutMs,
      // All nodes start at once; a joiner whose bootstrap is not listening yet retries quickly.
      overlay: { joinAttemptTimeoutMs: 1000 },
      insecure: options.insecure,
      apps,
      ops: { bind: '127.0.0.1', port: options.opsBasePort + i, tokenFile: '../ops-token' },
      ...(s3 ? { s3: { bind: '127.0.0.1', port: options.s3BasePort + i, ...(s3Tls ? { tls: { cert: s3Tls.cert, key: s3Tls.key } } : {}) } } : {}),
      log: { level: options.logLevel },
    };
    await fs.writeFile(configFile, `# Written by \`pi up\`; rewritten on every run.\n${toYaml(config)}`);
    const log = join(nodeDir, 'node.log');
    const fd = openSync(log, 'a');
    const proc = spawn(process.execPath, [...selfCommand(), 'start', '--config', configFile], {
      detached: true,
      stdio: ['ignore', fd, fd, 'ipc'],
      env: childEnv(),
    });
    closeSync(fd);
    const child: Child = {
      index: i,
      proc,
      dir: nodeDir,
      log,
      port: options.basePort + i,
      opsPort: options.opsBasePort + i,
      exited: false,
      exitCode: null,
      ready: undefined as unknown as Child['ready'],
    };
    child.ready = new Promise((resolveReady, reject) => {
      proc.on('message', (m: { event?: string; id?: string; opsUrl?: string }) => {
        if (m?.event === 'ready' && m.id && m.opsUrl) {
          child.id = m.id;
          child.opsUrl = m.opsUrl;
          resolveReady({ id: m.id, opsUrl: m.opsUrl });
        }
      });
      proc.once('exit', (code) => reject(new CliError('NodeExited', `node ${i} exited (code ${code}) before joining`)));
    });
    child.ready.catch(() => {});
    proc.once('exit', (code) => {
      child.exited = true;
      child.exitCode = code;
    });
    children.push(child);
    children.sort((a, b) => a.index - b.index);
    return child;
  };

  let stopping = false;
  const stopAll = async (): Promise<void> => {
    stopping = true;
    const alive = children.filter((c) => !c.exited);
    for (const c of alive) c.proc.kill('SIGTERM');
    const deadline = env.now() + 15_000;
    while (children.some((c) => !c.exited) && env.now() < deadline) await env.sleep(50);
    for (const c of children) if (!c.exited) c.proc.kill('SIGKILL');
    await fs.rm(join(dir, RING_FILE), { force: true });
  };
  // Last resort if this process exits another way: no orphans.
  const onExit = (): void => {
    for (const c of children) if (!c.exited) c.proc.kill('SIGKILL');
  };
  process.on('exit', onExit);

  let signalled: ((s: string) => void) | undefined;
  const signal = new Promise<string>((r) => {
    signalled = r;
  });
  const onSignal = (s: NodeJS.Signals): void => {
    if (stopping) {
      onExit();
      process.exit(1);
    }
    signalled!(s);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const waitReady = async (child: Child): Promise<void> => {
    const deadline = started + options.readyTimeoutMs;
    const timeout = env.sleep(Math.max(0, deadline - env.now())).then(() => 'timeout' as const);
    const r = await Promise.race([child.ready.then(() => 'ready' as const, (e: Error) => e), timeout, signal.then(() => 'signal' as const)]);
    if (r === 'ready') return;
    if (r === 'signal') throw new CliError('Interrupted', 'interrupted while starting');
    const why = r === 'timeout' ? `did not join within ${options.readyTimeoutMs} ms` : `exited (code ${child.exitCode})`;
    throw new CliError('NodeFailed', `node ${child.index} ${why}; the end of ${child.log}:\n${await tail(child.log)}`);
  };

  try {
    out.progress('node.starting', `starting ${n} node${n > 1 ? 's' : ''}${options.insecure ? ' (INSECURE: plaintext transport)' : ' with mutual TLS'} in ${dir}`);
    // Every node starts at once (loading takes most of the time); the joiners retry until node 0,
    // which starts the ring, answers.
    const all = await Promise.all(Array.from({ length: n }, (_, i) => spawnNode(i)));
    await Promise.all(
      all.map(async (c) => {
        await waitReady(c);
        const what = c.index === 0 ? 'started the ring' : 'joined';
        out.progress('node.ready', `node ${c.index} ${what} (${c.id!.slice(0, 8)} at 127.0.0.1:${c.port})`, { index: c.index, id: c.id });
      }),
    );
    // Every leaf set complete and every dashboard answering.
    const expected = Math.min(n - 1, 24);
    for (const c of children) {
      for (;;) {
        if (env.now() - started > options.readyTimeoutMs) throw new CliError('NotReady', `node ${c.index}'s leaf set did not fill within ${options.readyTimeoutMs} ms`);
        try {
          const res = await fetch(`${c.opsUrl}/health`, { signal: AbortSignal.timeout(2000) });
          const health = (await res.json()) as { leafSet?: number };
          const page = await fetch(`${c.opsUrl}/`, { signal: AbortSignal.timeout(2000) });
          await page.arrayBuffer();
          if (res.ok && page.ok && (health.leafSet ?? 0) >= expected) break;
        } catch {
          // not yet
        }
        await env.sleep(50);
      }
    }
  } catch (err) {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await stopAll();
    process.off('exit', onExit);
    throw err;
  }

  const elapsedMs = env.now() - started;
  const dashboard = `${children[0]!.opsUrl}/#token=${encodeURIComponent(token)}`;
  let s3Url: string | null = null;
  if (s3) {
    try {
      const res = await fetch(`${children[0]!.opsUrl}/api/node`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5000) });
      s3Url = ((await res.json()) as { endpoints?: Record<string, string> }).endpoints?.['s3'] ?? null;
    } catch {
      // shown as unavailable
    }
  }
  const ringFile: DevRingFile = {
    nodes: children.map((c) => ({ index: c.index, id: c.id!, addr: `127.0.0.1:${c.port}`, opsUrl: c.opsUrl!, pid: c.proc.pid!, log: c.log })),
    token,
    dashboard,
    startedAt: started,
  };
  await fs.writeFile(join(dir, RING_FILE), JSON.stringify(ringFile, null, 2), { mode: 0o600 });
  const rel = (p: string): string => {
    const r = relative(process.cwd(), p);
    return r === '' || r.startsWith('..') ? p : r;
  };
  if (out.json) {
    out.progress('ready', `the dev ring is up`, { elapsedMs, nodes: ringFile.nodes, dashboard, token, tokenFile: join(dir, 'ops-token'), secure: !options.insecure, apps, s3: s3Url, s3Ca: s3Tls?.ca ?? null });
  } else {
    const lines = [
      '',
      out.style(`Pi dev ring is up: ${n} node${n > 1 ? 's' : ''} in ${(elapsedMs / 1000).toFixed(1)} s`, 'bold', 'green') +
        (options.insecure ? out.style('  (INSECURE: plaintext transport)', 'yellow') : `  (mutual TLS, CA in ${rel(caDir)})`),
      '',
      table(
        ['node', 'id', 'address', 'ops API', 'pid'],
        children.map((c) => [c.index, c.id!.slice(0, 8), `127.0.0.1:${c.port}`, c.opsUrl, c.proc.pid]),
      ).replace(/^/gm, '  '),
      '',
      `  ${out.style('Dashboard', 'bold')}  ${dashboard}`,
      `  ${out.style('Ops token', 'bold')}  ${token}  (in ${rel(join(dir, 'ops-token'))})`,
      `  ${out.style('S3', 'bold')}         ${s3Url ? `${s3Url}  (credentials: npm run pi -- user create NAME)` : s3 ? 'did not report an endpoint' : 'not running (add --apps s3)'}`,
      ...(s3Tls && s3Url ? [`             trust its CA: export AWS_CA_BUNDLE=${s3Tls.ca}`] : []),
      `  ${out.style('Apps', 'bold')}       ${apps.length ? apps.join(', ') : 'none'} (and the core services dht, scribe)`,
      `  ${out.style('Logs', 'bold')}       ${rel(join(dir, 'node-*', 'node.log'))}`,
      '',
      // The commands find a ring in the default directory by themselves; elsewhere they need its address.
      ...(resolve(dir) === resolve(DEV_RING_DIR) ? [] : [`  ${out.style('Commands', 'bold')}   this ring is not in ${DEV_RING_DIR}: first  export PI_OPS_URL=${ringFile.nodes[0]!.opsUrl} PI_OPS_TOKEN=${token}`]),
      `  Try: npm run pi -- status | npm run pi -- ring --walk | npm run pi -- apps | npm run pi -- events --ring`,
      `  Ctrl-C stops the ring.`,
      '',
    ];
    out.io.stdout.write(lines.join('\n') + '\n');
  }

  // Report nodes that die while the ring runs; stop on a signal.
  for (const c of children) {
    c.proc.once('exit', (code, sig) => {
      if (stopping) return;
      out.progress('node.exited', `node ${c.index} exited (${sig ?? `code ${code}`}); see ${rel(c.log)}`, { index: c.index, code, signal: sig });
    });
  }
  const s = await signal;
  out.progress('stopping', `${s}: stopping ${children.filter((c) => !c.exited).length} node(s)…`);
  await stopAll();
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.off('exit', onExit);
  out.progress('stopped', 'the dev ring is stopped');
  return 0;
}
