import pino from 'pino';
import type { LogFn, LogLevel, Logger } from './types.ts';

const LEVELS: Record<LogLevel, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };

/** Options for {@link createPinoLogger}. */
export interface PinoLoggerOptions {
  level?: LogLevel;
  /** Bindings on every line (e.g. `{ node: '3fa2…' }`). */
  base?: Record<string, unknown>;
  /** Destination stream; stdout by default. */
  destination?: NodeJS.WritableStream;
}

/** Production logger: JSON lines through pino. */
export function createPinoLogger(options: PinoLoggerOptions = {}): Logger {
  const opts = { level: options.level ?? 'info', base: options.base ?? {}, timestamp: pino.stdTimeFunctions.isoTime };
  return options.destination ? pino(opts, options.destination) : pino(opts);
}

/** One recorded log line of a {@link MemoryLogger}. */
export interface LogEntry {
  level: Exclude<LogLevel, 'silent'>;
  time: number;
  msg: string;
  [key: string]: unknown;
}

/** Shared store behind a memory logger and its children. */
/** Recent log entries (between capacity/2 and capacity of the newest once full). */
export class LogStore {
  readonly entries: LogEntry[] = [];
  constructor(
    readonly capacity: number,
    readonly clock: () => number,
    /** Also print each entry to stderr (debugging a simulation). */
    readonly echo = false,
  ) {}

  add(entry: LogEntry): void {
    if (this.echo) process.stderr.write(JSON.stringify(entry) + '\n');
    if (this.capacity <= 0) return;
    // When full, drop the older half at once: amortised O(1) per entry, unlike shift().
    if (this.entries.length >= this.capacity) this.entries.splice(0, Math.max(1, this.entries.length - Math.floor(this.capacity / 2)));
    this.entries.push(entry);
  }

  /** Entries whose message or code contains `text`. */
  find(text: string): LogEntry[] {
    return this.entries.filter((e) => e.msg.includes(text) || e['code'] === text);
  }
}

/**
 * Logger that keeps entries in memory (simulator and tests can assert what was logged) and can
 * echo them to stderr. Levels below `level` cost one comparison.
 */
export class MemoryLogger implements Logger {
  readonly trace: LogFn;
  readonly debug: LogFn;
  readonly info: LogFn;
  readonly warn: LogFn;
  readonly error: LogFn;
  readonly fatal: LogFn;
  private readonly threshold: number;

  constructor(
    readonly store: LogStore,
    readonly level: LogLevel = 'warn',
    private readonly bindings: Record<string, unknown> = {},
  ) {
    this.threshold = LEVELS[level];
    this.trace = this.make('trace');
    this.debug = this.make('debug');
    this.info = this.make('info');
    this.warn = this.make('warn');
    this.error = this.make('error');
    this.fatal = this.make('fatal');
  }

  private make(level: Exclude<LogLevel, 'silent'>): LogFn {
    if (LEVELS[level] < this.threshold) return noop;
    return ((objOrMsg: object | string, msg?: string) => {
      const entry: LogEntry = { level, time: this.store.clock(), msg: '', ...this.bindings };
      if (typeof objOrMsg === 'string') entry.msg = objOrMsg;
      else if (objOrMsg instanceof Error) {
        // As pino: the error goes under `err`, and its message is the default message. Its own
        // fields (e.g. `code`) are also copied to the entry so that LogStore.find(code) works.
        Object.assign(entry, objOrMsg);
        entry['err'] = serializeError(objOrMsg);
        entry.msg = msg ?? objOrMsg.message;
      } else {
        for (const [key, value] of Object.entries(objOrMsg)) entry[key] = value instanceof Error ? serializeError(value) : value;
        entry.msg = msg ?? '';
      }
      this.store.add(entry);
    }) as LogFn;
  }

  child(bindings: Record<string, unknown>): Logger {
    return new MemoryLogger(this.store, this.level, { ...this.bindings, ...bindings });
  }

  isLevelEnabled(level: LogLevel): boolean {
    return LEVELS[level] >= this.threshold;
  }
}

const noop: LogFn = (() => {}) as LogFn;

/**
 * A plain, JSON-friendly copy of an error (`type`, `message`, own fields such as `code`, `cause`,
 * `stack`), like pino's standard serializer: an Error itself would print as `{}`.
 */
function serializeError(err: Error, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = { type: err.name, message: err.message };
  Object.assign(out, err);
  if (err.cause !== undefined) out['cause'] = err.cause instanceof Error && depth < 3 ? serializeError(err.cause, depth + 1) : err.cause;
  out['stack'] = err.stack;
  return out;
}

/** A logger that drops everything. */
export const silentLogger: Logger = {
  trace: noop,
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  fatal: noop,
  child: () => silentLogger,
  isLevelEnabled: () => false,
};

/** Parses a level name, e.g. from configuration; throws with the accepted names otherwise. */
export function parseLogLevel(text: string): LogLevel {
  if (Object.hasOwn(LEVELS, text)) return text as LogLevel;
  throw new Error(`unknown log level "${text}" (expected one of ${Object.keys(LEVELS).join(', ')})`);
}
