import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { LogStore, MemoryLogger, VirtualEnv, createPinoLogger, parseLogLevel, silentLogger } from '../../src/env/index.ts';
import type { LogLevel } from '../../src/env/index.ts';

const ALL: Exclude<LogLevel, 'silent'>[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

function memory(level: LogLevel, capacity = 100): { log: MemoryLogger; store: LogStore; clock: { t: number } } {
  const clock = { t: 1000 };
  const store = new LogStore(capacity, () => clock.t);
  return { log: new MemoryLogger(store, level), store, clock };
}

describe('MemoryLogger', () => {
  test('records only levels at or above its threshold', () => {
    for (let i = 0; i < ALL.length; i++) {
      const { log, store } = memory(ALL[i]!);
      for (const level of ALL) log[level](`at ${level}`);
      assert.deepEqual(
        store.entries.map((e) => e.level),
        ALL.slice(i),
      );
      for (const level of ALL) assert.equal(log.isLevelEnabled(level), ALL.indexOf(level) >= i);
    }
    const { log, store } = memory('silent');
    for (const level of ALL) log[level]('x');
    assert.equal(store.entries.length, 0);
    assert.equal(log.isLevelEnabled('fatal'), false);
  });

  test('defaults to warn', () => {
    const store = new LogStore(10, () => 0);
    const log = new MemoryLogger(store);
    log.info('no');
    log.warn('yes');
    assert.deepEqual(
      store.entries.map((e) => e.msg),
      ['yes'],
    );
  });

  test('records message, fields and the clock time', () => {
    const { log, store, clock } = memory('info');
    log.info('plain');
    clock.t = 2000;
    log.warn({ key: 'k1', n: 3 }, 'with fields');
    log.error({ only: true });
    assert.deepEqual(store.entries, [
      { level: 'info', time: 1000, msg: 'plain' },
      { level: 'warn', time: 2000, msg: 'with fields', key: 'k1', n: 3 },
      { level: 'error', time: 2000, msg: '', only: true },
    ]);
  });

  test('children carry bindings, nested children merge them, parents are unaffected', () => {
    const { log, store } = memory('debug');
    const node = log.child({ node: 'abc', role: 'a' });
    const tx = node.child({ tx: 't1', role: 'b' });
    tx.debug({ k: 1 }, 'in tx');
    node.info('in node');
    log.info('root');
    assert.deepEqual(
      store.entries.map(({ time: _time, ...rest }) => rest),
      [
        { level: 'debug', msg: 'in tx', node: 'abc', tx: 't1', role: 'b', k: 1 },
        { level: 'info', msg: 'in node', node: 'abc', role: 'a' },
        { level: 'info', msg: 'root' },
      ],
    );
    // a child keeps its parent's level
    assert.equal(tx.isLevelEnabled('trace'), false);
    assert.equal(tx.isLevelEnabled('debug'), true);
  });

  test('logging an Error records its message, type, code and stack', () => {
    const { log, store } = memory('info');
    const err = Object.assign(new TypeError('disk on fire'), { code: 'EFIRE' });
    log.error(err);
    const e = store.entries[0]!;
    assert.equal(e.msg, 'disk on fire', 'the message defaults to the error message, as in pino');
    const logged = e['err'] as Record<string, unknown>;
    assert.equal(logged['message'], 'disk on fire');
    assert.equal(logged['type'], 'TypeError');
    assert.equal(logged['code'], 'EFIRE');
    assert.match(String(logged['stack']), /disk on fire/);
    assert.equal(e['code'], 'EFIRE', 'find() by code works');
    assert.deepEqual(store.find('EFIRE'), [e]);

    log.warn(new Error('with a message'), 'explicit message');
    assert.equal(store.entries[1]!.msg, 'explicit message');
  });

  test('an Error under a field (pino style { err }) is recorded usefully and survives JSON', () => {
    const { log, store } = memory('info');
    const err = Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' });
    log.warn({ err, peer: 'sim:3' }, 'send failed');
    const e = store.entries[0]!;
    assert.equal(e.msg, 'send failed');
    assert.equal(e['peer'], 'sim:3');
    const json = JSON.parse(JSON.stringify(e)) as { err: Record<string, unknown> };
    assert.equal(json.err['message'], 'connection refused');
    assert.equal(json.err['code'], 'ECONNREFUSED');
    assert.equal(json.err['type'], 'Error');
  });

  test('the store keeps the newest entries up to its capacity', () => {
    const { log, store } = memory('info', 3);
    for (let i = 0; i < 5; i++) log.info(`m${i}`);
    assert.deepEqual(
      store.entries.map((e) => e.msg),
      ['m2', 'm3', 'm4'],
    );
    const none = memory('info', 0);
    none.log.info('dropped');
    assert.equal(none.store.entries.length, 0);
  });

  test('find() matches message text or code', () => {
    const { log, store } = memory('info');
    log.info('peer sim:4 joined');
    log.warn({ code: 'Timeout' }, 'request gave up');
    log.info('other');
    assert.deepEqual(
      store.find('sim:4').map((e) => e.msg),
      ['peer sim:4 joined'],
    );
    assert.deepEqual(
      store.find('Timeout').map((e) => e.msg),
      ['request gave up'],
    );
    assert.deepEqual(store.find('nothing'), []);
  });

  test('echo prints each entry as a JSON line on stderr', () => {
    const store = new LogStore(10, () => 5, true);
    const log = new MemoryLogger(store, 'info').child({ node: 'n' });
    const written: string[] = [];
    const original = process.stderr.write;
    process.stderr.write = ((chunk: string) => {
      written.push(chunk);
      return true;
    }) as typeof process.stderr.write;
    try {
      log.info({ err: new Error('bad') }, 'echoed');
    } finally {
      process.stderr.write = original;
    }
    assert.equal(written.length, 1);
    const line = JSON.parse(written[0]!) as Record<string, unknown>;
    assert.equal(line['msg'], 'echoed');
    assert.equal(line['node'], 'n');
    assert.equal(line['time'], 5);
    assert.equal((line['err'] as Record<string, unknown>)['message'], 'bad');
  });

  test('a VirtualEnv logger stamps entries with virtual time', async () => {
    const env = VirtualEnv.create({ seed: 1, logLevel: 'info' });
    const store = (env.log as MemoryLogger).store;
    env.log.info('start');
    await env.scheduler.runFor(250);
    env.withLog({ node: 'x' }).log.info('later');
    assert.deepEqual(
      store.entries.map((e) => [e.msg, e.time - store.entries[0]!.time, e['node']]),
      [
        ['start', 0, undefined],
        ['later', 250, 'x'],
      ],
    );
    assert.equal(store.entries[0]!.time, env.now() - 250);
    // the default level of VirtualEnv.create is warn
    const quiet = VirtualEnv.create({ seed: 1 });
    quiet.log.info('dropped');
    assert.equal((quiet.log as MemoryLogger).store.entries.length, 0);
  });
});

describe('silentLogger and parseLogLevel', () => {
  test('silentLogger drops everything, including in children', () => {
    for (const level of ALL) silentLogger[level]('x');
    assert.equal(silentLogger.child({ a: 1 }), silentLogger);
    assert.equal(silentLogger.isLevelEnabled('fatal'), false);
  });

  test('parseLogLevel accepts level names and rejects anything else', () => {
    for (const level of [...ALL, 'silent'] as const) assert.equal(parseLogLevel(level), level);
    for (const bad of ['', 'INFO', 'verbose', 'toString', 'constructor', '__proto__', 'hasOwnProperty']) {
      assert.throws(() => parseLogLevel(bad), /unknown log level .* \(expected one of trace, debug, info, warn, error, fatal, silent\)/);
    }
  });
});

describe('createPinoLogger', () => {
  function capture(): { stream: Writable; lines: () => Record<string, unknown>[] } {
    const chunks: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, cb) {
        chunks.push(chunk.toString());
        cb();
      },
    });
    return {
      stream,
      lines: () =>
        chunks
          .join('')
          .split('\n')
          .filter((l) => l.length > 0)
          .map((l) => JSON.parse(l) as Record<string, unknown>),
    };
  }

  test('writes JSON lines with level filtering, base and child bindings', async () => {
    const out = capture();
    const log = createPinoLogger({ level: 'info', base: { node: 'n1' }, destination: out.stream });
    log.debug('hidden');
    log.info({ k: 1 }, 'shown');
    log.child({ tx: 't9' }).warn('child line');
    log.error(new Error('kaput'));
    await new Promise<void>((resolve) => out.stream.end(resolve));
    const lines = out.lines();
    assert.deepEqual(
      lines.map((l) => l['msg']),
      ['shown', 'child line', 'kaput'],
    );
    assert.equal(lines[0]!['node'], 'n1');
    assert.equal(lines[0]!['k'], 1);
    assert.equal(lines[1]!['tx'], 't9');
    assert.equal(lines[1]!['node'], 'n1');
    assert.match(String(lines[0]!['time']), /^\d{4}-\d\d-\d\dT/);
    assert.equal((lines[2]!['err'] as Record<string, unknown>)['message'], 'kaput');
    assert.equal(log.isLevelEnabled('debug'), false);
    assert.equal(log.isLevelEnabled('warn'), true);
  });
});
