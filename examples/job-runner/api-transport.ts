/**
 * How the job API is served: a small request/response interface, served over real HTTP
 * (`node:http`, {@link HttpListeners}) on a node, or through an in-memory address space in the
 * simulator (see src/sim/example-sim.ts). The API logic does not know which.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** A request to the job API. */
export interface ApiRequest {
  method: string;
  /** Path without the query, e.g. `/jobs/abc`. */
  path: string;
  query: URLSearchParams;
  /** Parsed JSON body, if any. */
  body: unknown;
}

/** The answer: a status and a JSON body. */
export interface ApiResponse {
  status: number;
  body: unknown;
}

export type ApiHandler = (req: ApiRequest) => Promise<ApiResponse>;

/** A bound listener. */
export interface Listener {
  close(): Promise<void> | void;
}

/** Binds the API on an address. */
export interface ListenerFactory {
  listen(address: string, port: number, handler: ApiHandler): Promise<Listener>;
}

const MAX_BODY = 1024 * 1024;

/** Serves the API over HTTP with JSON bodies. */
export class HttpListeners implements ListenerFactory {
  async listen(address: string, port: number, handler: ApiHandler): Promise<Listener> {
    const sockets = new Set<Socket>();
    const server: Server = createServer((req, res) => void this.serve(req, res, handler));
    server.on('connection', (s: Socket) => {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: address, port, exclusive: true }, () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
    return {
      close: () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          server.close(() => resolve());
        }),
    };
  }

  private async serve(req: IncomingMessage, res: ServerResponse, handler: ApiHandler): Promise<void> {
    const send = (status: number, body: unknown): void => {
      if (res.headersSent) return;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body) + '\n');
    };
    try {
      const url = new URL(req.url ?? '/', 'http://job-api');
      let raw = '';
      let size = 0;
      for await (const chunk of req) {
        size += (chunk as Buffer).length;
        if (size > MAX_BODY) return send(413, { error: { code: 'TooLarge', message: `bodies are limited to ${MAX_BODY} bytes` } });
        raw += (chunk as Buffer).toString('utf8');
      }
      let body: unknown;
      if (raw.trim() !== '') {
        try {
          body = JSON.parse(raw);
        } catch {
          return send(400, { error: { code: 'InvalidJson', message: 'the body is not valid JSON' } });
        }
      }
      const r = await handler({ method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, body });
      send(r.status, r.body);
    } catch (err) {
      send(500, { error: { code: (err as { code?: string }).code ?? 'InternalError', message: (err as Error).message } });
    }
  }
}
