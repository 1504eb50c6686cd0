/**
 * Test helper: runs a command of the real AWS SDK v3 S3 client against a canned HTTP response, so
 * the documents built by the protocol layer are checked by the SDK's own deserialisers.
 */
import { Readable } from 'node:stream';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';

/** A canned response. */
export interface CannedResponse {
  status: number;
  headers?: Record<string, string>;
  /** The body: whole, or as the pieces the client reads it in. */
  body?: string | readonly Buffer[];
}

function bodyStream(body: CannedResponse['body']): Readable {
  return Readable.from(body === undefined ? [] : typeof body === 'string' ? [Buffer.from(body)] : body);
}

/** Sends `command` and answers it with `response`; returns the SDK's output (or throws its error). */
export async function respond<T>(command: object, response: CannedResponse, config: Partial<S3ClientConfig> = {}): Promise<T> {
  const client = new S3Client({
    endpoint: 'http://s3.localhost:9000',
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'AKID', secretAccessKey: 'SECRET' },
    maxAttempts: 1,
    requestHandler: {
      handle: async () => ({
        response: {
          statusCode: response.status,
          reason: '',
          headers: { 'x-amz-request-id': 'REQ', ...(response.headers ?? {}) },
          body: bodyStream(response.body),
        },
      }),
    } as unknown as S3ClientConfig['requestHandler'],
    ...config,
  });
  try {
    return (await client.send(command as Parameters<S3Client['send']>[0])) as T;
  } finally {
    client.destroy();
  }
}

/** A request as the handler of {@link serve} sees it. */
export interface ServedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string>;
}

/**
 * A client whose every request is answered by `handler` (in-process, nothing sent): lets the
 * SDK's paginators drive the protocol code.
 */
export function serve(handler: (req: ServedRequest) => Promise<CannedResponse> | CannedResponse, config: Partial<S3ClientConfig> = {}): S3Client {
  return new S3Client({
    endpoint: 'http://s3.localhost:9000',
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'AKID', secretAccessKey: 'SECRET' },
    maxAttempts: 1,
    requestHandler: {
      handle: async (req: { method: string; path: string; query?: Record<string, string | string[] | null>; headers: Record<string, string> }) => {
        const query = new URLSearchParams();
        for (const [name, value] of Object.entries(req.query ?? {})) {
          for (const v of Array.isArray(value) ? value : [value ?? '']) query.append(name, v);
        }
        const response = await handler({ method: req.method, path: req.path, query, headers: req.headers });
        return {
          response: {
            statusCode: response.status,
            reason: '',
            headers: { 'x-amz-request-id': 'REQ', ...(response.headers ?? {}) },
            body: bodyStream(response.body),
          },
        };
      },
    } as unknown as S3ClientConfig['requestHandler'],
    ...config,
  });
}
