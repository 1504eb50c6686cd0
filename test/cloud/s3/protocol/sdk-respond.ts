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
  body?: string;
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
          body: Readable.from(response.body === undefined ? [] : [Buffer.from(response.body)]),
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
