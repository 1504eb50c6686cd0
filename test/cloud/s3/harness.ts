/**
 * Test harness of the S3 application: a ring of real nodes over loopback (TLS, DHT, the `s3`
 * application on an ephemeral port each), users created through the ops API as `pi user create`
 * does, and AWS SDK clients pointed at any node.
 */
import { S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import assert from 'node:assert/strict';
import type { ConfigInput } from '../../../src/node/index.ts';
import { S3Service } from '../../../src/cloud/s3/service.ts';
import { call, startNode, waitFor } from '../../node/fixtures.ts';
import type { TestNode } from '../../node/fixtures.ts';

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';

/** S3 settings of the test rings: small chunks so that tests exercise many of them. */
export const TEST_S3 = { port: 0, bind: '127.0.0.1', chunkSize: 256 * 1024, inlineMaxBytes: 4096, minPartBytes: 5 * 1024 * 1024, gc: { enabled: false } };

/** A node of the ring with its S3 endpoint. */
export interface S3Node extends TestNode {
  s3: S3Service;
  endpoint: string;
}

/** Starts `n` nodes running `s3`; resolves once every leaf set is complete. */
export async function startS3Ring(cleanup: (fn: () => Promise<void>) => void, n: number, config: ConfigInput = {}): Promise<S3Node[]> {
  const base: ConfigInput = { apps: ['s3'], ...config, s3: { ...TEST_S3, ...((config['s3'] as object) ?? {}) } };
  const first = await startNode(cleanup, { config: base, name: 'node-0' });
  const rest = await Promise.all(Array.from({ length: n - 1 }, (_, i) => startNode(cleanup, { bootstrap: [first.node.address], config: base, name: `node-${i + 1}` })));
  const nodes = [first, ...rest];
  await waitFor(() => nodes.every((x) => x.node.overlay.leafSetMembers().length >= Math.min(n - 1, 24)), { timeoutMs: 15_000, what: `a complete ring of ${n}` });
  return nodes.map((t) => {
    const s3 = t.node.service<S3Service>('s3');
    assert.ok(s3, 'the s3 application runs');
    return Object.assign(t, { s3, endpoint: s3.endpoint });
  });
}

/** Credentials of a user made through the ops API (`POST /api/s3/users`, what `pi user create` calls). */
export interface TestUser {
  name: string;
  id: string;
  accessKey: string;
  secret: string;
}

export async function createUser(node: S3Node, name: string): Promise<TestUser> {
  const r = await call(node.ops!.url, '/api/s3/users', { method: 'POST', body: { name } });
  assert.equal(r.status, 201, r.text);
  return r.body as unknown as TestUser;
}

/** An SDK client for `user` against `endpoint` (no retries, so errors surface as they are). */
export function clientFor(endpoint: string, user: TestUser | undefined, options: { pathStyle?: boolean; retries?: number } = {}): S3Client {
  const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: options.pathStyle ?? true,
    maxAttempts: options.retries ?? 1,
    logger: quiet,
    ...(user ? { credentials: { accessKeyId: user.accessKey, secretAccessKey: user.secret } } : { signer: { sign: async (request: unknown) => request } as never, credentials: { accessKeyId: '', secretAccessKey: '' } }),
  });
}

/** Reads a GetObject body. */
export async function bytes(body: unknown): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/** Expects an S3 error; `name` undefined for bodiless answers (304, HEAD). */
export async function s3failure(promise: Promise<unknown>, name: string | undefined, status: number): Promise<S3ServiceException> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof S3ServiceException, `expected an S3 error, got ${String(err)}`);
    if (name !== undefined) assert.equal(err.name, name);
    assert.equal(err.$metadata.httpStatusCode, status);
    return err;
  }
  assert.fail(`expected ${name ?? status}`);
}

/** Deterministic pseudo-random bytes. */
export function pattern(size: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}
