/**
 * `pi start` and `pi up` as real processes: JSON logs with the node id, graceful shutdown on
 * signals, configuration errors, and `pi up --nodes 5` (its 15 s floor is measured by the command), Ctrl-C stops
 * every node.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { tempDir, waitFor } from '../node/fixtures.ts';

const MAIN = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

/** Runs `pi …` from source in a child process, collecting its output. */
function spawnPi(args: string[], env: NodeJS.ProcessEnv = {}): { proc: ChildProcess; out: () => string; err: () => string; exit: Promise<number | null> } {
  const proc = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { proc, out: () => out, err: () => err, exit };
}

async function portsFree(ports: number[]): Promise<boolean> {
  for (const port of ports) {
    const free = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen({ host: '127.0.0.1', port }, () => s.close(() => resolve(true)));
    });
    if (!free) return false;
  }
  return true;
}

/**
 * A base port with `n` free ports at base+i, base+100+i and base+200+i (ring, ops, S3). Below
 * Linux's ephemeral range (32768 and up): a port there that is free when probed can be taken by
 * another test's outgoing connection before the node binds it.
 */
async function freeBase(n: number): Promise<number> {
  for (;;) {
    const base = 20000 + Math.floor(Math.random() * 12000);
    const ports = Array.from({ length: n }, (_, i) => [base + i, base + 100 + i, base + 200 + i]).flat();
    if (await portsFree(ports)) return base;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('pi start', () => {
  test('logs JSON lines with the node id, and leaves gracefully on SIGTERM', { timeout: 30_000 }, async (t) => {
    const dir = await tempDir((fn) => t.after(fn));
    const pi = spawnPi(['start', '--insecure', '--new-ring', '--data-dir', dir, '--bind', '127.0.0.1', '--port', '0', '--ops-port', '0']);
    t.after(() => pi.proc.kill('SIGKILL'));
    await waitFor(() => pi.out().includes('"event":"node.ready"'), { timeoutMs: 15_000, what: 'the node to be ready' });
    pi.proc.kill('SIGTERM');
    assert.equal(await pi.exit, 0, pi.err());
    const lines = pi
      .out()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const id = lines.find((l) => l['event'] === 'node.identity')!['nodeId'];
    assert.match(String(id), /^[0-9a-f]{40}$/);
    for (const l of lines) assert.equal(l['nodeId'], id, `line without the node id: ${JSON.stringify(l)}`);
    assert.ok(lines.some((l) => l['code'] === 'Insecure' && /INSECURE/.test(String(l['msg']))), 'insecure mode is announced');
    const stopped = lines.find((l) => l['event'] === 'node.stopped');
    assert.equal(stopped?.['graceful'], true);
    assert.ok(lines.some((l) => l['event'] === 'node.leaving'), 'announced its departure');
  });

  test('an invalid configuration stops it at once with the setting named', { timeout: 30_000 }, async (t) => {
    const dir = await tempDir((fn) => t.after(fn));
    const pi = spawnPi(['start', '--data-dir', dir, '--region', '300'], { PI_LOG_LEVEL: 'loud' });
    assert.equal(await pi.exit, 1);
    assert.match(pi.err(), /setting "region" \(from flags\).*255/);
    assert.match(pi.err(), /setting "log\.level" \(from environment PI_LOG_LEVEL\)/);
  });
});

describe('pi up', () => {
  // The 15 s floor is measured with the command itself (`pi up` reports elapsedMs); this test only
  // bounds it loosely, so a loaded CI machine does not turn a timing figure into a failure.
  test('five nodes with TLS, the standard applications (S3 over HTTPS with --s3-tls) and the dashboard come up; Ctrl-C stops them all', { timeout: 90_000 }, async (t) => {
    const dir = await tempDir((fn) => t.after(fn));
    const base = await freeBase(5);
    const started = Date.now();
    const pi = spawnPi(['--json', 'up', '--nodes', '5', '--base-port', String(base), '--data-dir', dir, '--s3-tls']);
    t.after(() => pi.proc.kill('SIGKILL'));
    let ready: { elapsedMs: number; nodes: { opsUrl: string; pid: number; id: string }[]; dashboard: string; token: string; apps: string[]; s3: string | null; s3Ca: string | null } | undefined;
    await waitFor(
      () => {
        for (const line of pi.out().split('\n')) {
          if (!line.startsWith('{')) continue;
          const e = JSON.parse(line) as { event?: string };
          if (e.event === 'ready') ready = e as typeof ready;
        }
        return ready !== undefined || pi.proc.exitCode !== null;
      },
      { timeoutMs: 30_000, what: 'pi up to report the ring ready' },
    );
    const wall = Date.now() - started;
    assert.ok(ready, `pi up failed: ${pi.err()}${pi.out()}`);
    console.log(`# pi up --nodes 5: ready after ${wall} ms (reported ${ready!.elapsedMs} ms)`);
    assert.equal(ready!.nodes.length, 5);
    assert.deepEqual(ready!.apps, ['s3'], 'the standard applications');
    assert.equal(ready!.s3, `https://127.0.0.1:${base + 200}`, "node 0's S3 endpoint");
    assert.equal(ready!.s3Ca, join(dir, 's3-tls', 'ca.crt'));
    // The endpoint's certificate verifies against the CA file pi up points clients to.
    const anonymous = await new Promise<number>((resolve, reject) => {
      const r = httpsRequest({ host: '127.0.0.1', port: base + 200, path: '/', ca: readFileSync(ready!.s3Ca!) }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      r.on('error', reject);
      r.end();
    });
    assert.equal(anonymous, 403, 'an anonymous ListBuckets over verified TLS is refused by S3, not by TLS');
    const token = readFileSync(join(dir, 'ops-token'), 'utf8').trim();
    assert.equal(ready!.token, token);
    assert.ok(existsSync(join(dir, 'ca', 'ca.crt')), 'a throwaway CA');
    for (const n of ready!.nodes) {
      const health = (await (await fetch(`${n.opsUrl}/health`)).json()) as { state: string; leafSet: number };
      assert.equal(health.state, 'ready');
      assert.equal(health.leafSet, 4);
      const node = (await (await fetch(`${n.opsUrl}/api/node`, { headers: { authorization: `Bearer ${token}` } })).json()) as { secure: boolean; id: string };
      assert.equal(node.secure, true, 'the dev ring runs with TLS');
      assert.equal(node.id, n.id);
      assert.equal((await fetch(`${n.opsUrl}/`)).status, 200, 'dashboard answers');
    }
    assert.ok(existsSync(join(dir, 'ring.json')));
    pi.proc.kill('SIGINT');
    assert.equal(await pi.exit, 0, pi.err());
    for (const n of ready!.nodes) assert.equal(alive(n.pid), false, `node process ${n.pid} is gone`);
    assert.equal(existsSync(join(dir, 'ring.json')), false);
    const log = readFileSync(join(dir, 'node-3', 'node.log'), 'utf8');
    assert.match(log, /"event":"node.stopped","graceful":true/);
  });
});
