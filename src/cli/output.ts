/**
 * How the `pi` command talks: readable text (tables, a little colour on a terminal) by default,
 * one JSON document per result with `--json`. Errors go to stderr in the same two forms.
 */

/** Where output goes; tests capture it. */
export interface Io {
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown; isTTY?: boolean };
  env: Record<string, string | undefined>;
}

/** The process's own streams. */
export function processIo(): Io {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env };
}

/** An error meant for the user, with a stable code and an exit status. */
export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

const CODES = { bold: 1, dim: 2, red: 31, green: 32, yellow: 33, cyan: 36 } as const;
type Style = keyof typeof CODES;

/** Printer bound to the chosen mode. */
export class Output {
  constructor(
    readonly io: Io,
    readonly json: boolean,
  ) {}

  private get color(): boolean {
    return !this.json && this.io.stdout.isTTY === true && this.io.env['NO_COLOR'] === undefined;
  }

  /** Wraps text in an ANSI style when writing to a terminal. */
  style(text: string, ...styles: Style[]): string {
    if (!this.color || styles.length === 0) return text;
    return `\x1b[${styles.map((s) => CODES[s]).join(';')}m${text}\x1b[0m`;
  }

  /** Prints a result: `human()` as text, or `data` as JSON. */
  result(data: unknown, human: () => string): void {
    if (this.json) this.io.stdout.write(JSON.stringify(data, null, 2) + '\n');
    else this.io.stdout.write(human().replace(/\n?$/, '\n'));
  }

  /** A progress line (stderr in text mode so results stay pipeable; a JSON event line with --json). */
  progress(event: string, text: string, data: Record<string, unknown> = {}): void {
    if (this.json) this.io.stdout.write(JSON.stringify({ event, message: text, ...data }) + '\n');
    else this.io.stderr.write(text + '\n');
  }

  /** Prints an error. */
  error(err: unknown): void {
    const e = err as { code?: string; message?: string };
    const code = e?.code ?? 'Error';
    const message = e?.message ?? String(err);
    if (this.json) this.io.stderr.write(JSON.stringify({ error: { code, message } }) + '\n');
    else this.io.stderr.write(`${this.io.stderr.isTTY && this.io.env['NO_COLOR'] === undefined ? '\x1b[31merror\x1b[0m' : 'error'}: ${message}${code !== 'Error' && code !== 'CliError' ? ` (${code})` : ''}\n`);
  }
}

/** A plain text table: columns padded to the widest cell. */
export function table(headers: string[], rows: (string | number | undefined)[][]): string {
  const cells = rows.map((r) => r.map((c) => (c === undefined ? '' : String(c))));
  const widths = headers.map((h, i) => Math.max(visibleLength(h), ...cells.map((r) => visibleLength(r[i] ?? ''))));
  const line = (r: string[]): string =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat(widths[i]! - visibleLength(c))))
      .join('  ')
      .trimEnd();
  return [line(headers), ...cells.map(line)].join('\n');
}

function visibleLength(s: string): number {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\x1b\[[0-9;]*m/g, '').length;
}

/** `3h 12m`, `45s` style durations. */
export function formatDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** Short form of a hex id. */
export function short(id: string | undefined): string {
  return id ? id.slice(0, 8) : '';
}
