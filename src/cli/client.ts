/**
 * The client side of the ops API for the inspection commands: which node to ask (`--ops`,
 * `PI_OPS_URL`, the dev ring started by `pi up`, or the default port on this machine) and with
 * which token (`--token`, `PI_OPS_TOKEN`, the dev ring's, or the data directory's `ops-token`).
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEFAULT_OPS_PORT } from '../node/config.ts';
import { CliError } from './output.ts';

/** Default data directory of `pi up`. */
export const DEV_RING_DIR = '.pi/dev';
/** File `pi up` writes while the dev ring runs. */
export const RING_FILE = 'ring.json';

/** What `pi up` writes to `<dir>/ring.json`. */
export interface DevRingFile {
  nodes: { index: number; id: string; addr: string; opsUrl: string; pid: number; log: string }[];
  token: string;
  dashboard: string;
  startedAt: number;
}

/** Reads a dev ring file if there is one. */
export function readRingFile(dir: string): DevRingFile | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, RING_FILE), 'utf8')) as DevRingFile;
  } catch {
    return undefined;
  }
}

/** Options common to the inspection commands. */
export interface TargetOptions {
  ops?: string;
  token?: string;
  dataDir?: string;
}

/** Where to send requests and with which token. */
export interface Target {
  url: string;
  token: string | undefined;
  /** Where the URL came from (shown in connection errors). */
  source: string;
  /** Why no token was found in the data directory, when none was (shown with a 401). */
  tokenProblem?: string;
}

/** Resolves the node to ask. */
export function resolveTarget(options: TargetOptions, env: Record<string, string | undefined>, cwd = process.cwd()): Target {
  const ring = readRingFile(resolve(cwd, DEV_RING_DIR));
  let url: string;
  let source: string;
  if (options.ops) {
    url = options.ops;
    source = '--ops';
  } else if (env['PI_OPS_URL']) {
    url = env['PI_OPS_URL'];
    source = 'PI_OPS_URL';
  } else if (ring && ring.nodes.length > 0) {
    url = ring.nodes[0]!.opsUrl;
    source = `the dev ring (${join(DEV_RING_DIR, RING_FILE)})`;
  } else {
    url = `http://127.0.0.1:${DEFAULT_OPS_PORT}`;
    source = 'the default ops port';
  }
  if (!/^https?:\/\//.test(url)) url = `http://${url}`;
  url = url.replace(/\/+$/, '');
  let token = options.token ?? env['PI_OPS_TOKEN'];
  if (token === undefined && ring && !options.ops && !env['PI_OPS_URL']) token = ring.token;
  let tokenProblem: string | undefined;
  if (token === undefined) {
    const file = join(resolve(cwd, options.dataDir ?? '.pi/node'), 'ops-token');
    try {
      token = readFileSync(file, 'utf8').trim();
      if (token === '') tokenProblem = `the token file ${file} is empty`;
    } catch (err) {
      // No token: requests will say 401 with this as the hint.
      const code = (err as NodeJS.ErrnoException).code;
      tokenProblem = code === 'ENOENT' ? `no token file ${file}` : `cannot read the token file ${file} (${code ?? (err as Error).message})`;
    }
  }
  return tokenProblem === undefined ? { url, token, source } : { url, token, source, tokenProblem };
}

/** A failed API call. */
export class ApiError extends CliError {
  constructor(
    code: string,
    message: string,
    readonly status: number,
  ) {
    super(code, message);
    this.name = 'ApiError';
  }
}

/** Calls the ops API of one node. */
export class OpsClient {
  constructor(
    readonly target: Target,
    private readonly timeoutMs = 15_000,
  ) {}

  get<T = Record<string, unknown>>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T = Record<string, unknown>>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  put<T = Record<string, unknown>>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PUT', path, body);
  }

  delete<T = Record<string, unknown>>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.target.token) headers['authorization'] = `Bearer ${this.target.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(this.target.url + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
      const where = `cannot reach the ops API at ${this.target.url} (from ${this.target.source})`;
      // Something listens there but closed the connection without an HTTP answer: typically a
      // node's node-to-node port (TLS), given instead of its ops port.
      if (cause === 'UND_ERR_SOCKET') {
        throw new CliError('Unreachable', `${where}: the connection was closed without an HTTP answer (${cause}). Is this a node's node-to-node port (\`port\`) rather than its ops API (\`ops.port\`)? Use --ops URL to choose the ops API.`);
      }
      throw new CliError('Unreachable', `${where}: ${cause}. Is a node running? Use --ops URL to choose one.`);
    }
    const text = await res.text();
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : {};
    } catch {
      throw new ApiError(
        'BadResponse',
        `${method} ${path}: ${this.target.url} answered ${res.status} with something that is not JSON: is it a node's ops API (\`ops.port\`), not its S3 endpoint or another server? Use --ops URL to choose one.`,
        res.status,
      );
    }
    if (!res.ok) {
      const e = (data as { error?: { code?: string; message?: string } }).error;
      let message = e?.message ?? `${method} ${path} failed with HTTP ${res.status}`;
      if (res.status === 401) {
        message += this.target.token
          ? ' (the token was refused)'
          : ` (no token: pass --token, set PI_OPS_TOKEN, or give the node's data directory with --data-dir${this.target.tokenProblem ? `; ${this.target.tokenProblem}` : ''})`;
      }
      throw new ApiError(e?.code ?? `Http${res.status}`, message, res.status);
    }
    return data as T;
  }
}
