/**
 * Test helper: runs a command of the real AWS SDK v3 S3 client with a request handler that
 * captures the signed HTTP request instead of sending it, and returns it in the form a Node server
 * would see it (raw path, raw query string, lower-case headers, body bytes as on the wire).
 */
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';
import { buildQueryString } from '@smithy/core/protocols';

/** A captured request as it would arrive at the server. */
export interface CapturedRequest {
  method: string;
  /** Raw (percent-encoded) path. */
  path: string;
  /** Raw query string, without `?`. */
  query: string;
  headers: Record<string, string>;
  body: Buffer;
}

class Captured extends Error {
  constructor(readonly request: CapturedRequest) {
    super('captured');
  }
}

async function readBody(body: unknown): Promise<Buffer> {
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof Uint8Array) return Buffer.from(body);
  if (typeof (body as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') {
    const chunks: Buffer[] = [];
    for await (const chunk of body as AsyncIterable<Uint8Array | string>) chunks.push(Buffer.from(chunk));
    return Buffer.concat(chunks);
  }
  throw new Error(`unsupported body ${typeof body}`);
}

export const TEST_ACCESS_KEY = 'AKIDEXAMPLE';
export const TEST_SECRET_KEY = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';

/** A client whose requests are captured (never sent). */
export function capturingClient(config: Partial<S3ClientConfig> = {}): S3Client {
  return new S3Client({
    endpoint: 'http://s3.localhost:9000',
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: TEST_ACCESS_KEY, secretAccessKey: TEST_SECRET_KEY },
    maxAttempts: 1,
    // A quiet logger: the retry middleware warns on the console when a streaming request "fails".
    logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {} },
    requestHandler: {
      handle: async (req: {
        method: string;
        path: string;
        query?: Record<string, string | string[] | null>;
        headers: Record<string, string | undefined>;
        body?: unknown;
      }) => {
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(req.headers)) {
          if (value !== undefined) headers[name.toLowerCase()] = value;
        }
        const body = await readBody(req.body);
        throw new Captured({
          method: req.method,
          path: req.path,
          query: buildQueryString(req.query ?? {}),
          headers,
          body,
        });
      },
    } as unknown as S3ClientConfig['requestHandler'],
    ...config,
  });
}

/** Sends `command` through a capturing client and returns the captured request. */
export async function capture(
  command: object,
  config: Partial<S3ClientConfig> = {},
): Promise<CapturedRequest> {
  const client = capturingClient(config);
  try {
    await client.send(command as Parameters<S3Client['send']>[0]);
  } catch (err) {
    if (err instanceof Captured) return err.request;
    throw err;
  } finally {
    client.destroy();
  }
  throw new Error('request was not captured');
}
