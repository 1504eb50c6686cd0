/**
 * Test harness of the S3 application: a ring of real nodes over loopback (TLS, DHT, the `s3`
 * application on an ephemeral port each), users created through the ops API as `pi user create`
 * does, and AWS SDK clients pointed at any node.
 */
import { CreateBucketCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { Agent as HttpsAgent } from 'node:https';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { ConfigInput } from '../../../src/node/index.ts';
import type { LaunchOptions } from '../../../src/cli/launch.ts';
import { createNodeCert } from '../../../src/node/certs.ts';
import type { S3Service } from '../../../src/cloud/s3/service.ts';
import { call, ringCa, startNode, tempDir, waitFor } from '../../node/fixtures.ts';
import type { TestNode } from '../../node/fixtures.ts';

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';

/** S3 settings of the test rings: small chunks so that tests exercise many of them. */
/**
 * S3 settings of the test rings. `indexShards: 4`: a 3-node ring would give new buckets one index
 * shard by default, so the real-client tests would never list, version or sweep a sharded index.
 */
export const TEST_S3 = { port: 0, bind: '127.0.0.1', chunkSize: 256 * 1024, inlineMaxBytes: 4096, minPartBytes: 5 * 1024 * 1024, gc: { enabled: false }, indexShards: 4 };

/** A node of the ring with its S3 endpoint. */
export interface S3Node extends TestNode {
  s3: S3Service;
  endpoint: string;
}

/** Certificate files for HTTPS S3 endpoints of a test ring, and the CA that signed them. */
export interface EndpointCertificate {
  certFile: string;
  keyFile: string;
  /** The CA certificate (PEM) clients trust. */
  caPem: string;
}

/** CA certificates trusted for HTTPS endpoints, by origin (filled as rings with TLS start). */
const trustedCas = new Map<string, string>();

/**
 * Issues a certificate for S3 endpoints on loopback (127.0.0.1, ::1, localhost, and the
 * subdomains of s3.localhost for virtual-hosted style: TLS clients do not match `*.localhost`,
 * a wildcard over a single label) from the test CA, written to a temporary folder.
 */
export async function endpointCertificate(cleanup: (fn: () => Promise<void>) => void, name = 's3 endpoint'): Promise<EndpointCertificate> {
  const ca = await ringCa();
  const issued = await createNodeCert({ caKeyPem: ca.keyPem, caCertPem: ca.certPem, name, hosts: ['127.0.0.1', '::1', 'localhost', 's3.localhost', '*.s3.localhost'] });
  const dir = await tempDir(cleanup, 'pi-s3-tls-');
  const certFile = join(dir, 'endpoint.crt');
  const keyFile = join(dir, 'endpoint.key');
  await writeFile(certFile, issued.certPem);
  await writeFile(keyFile, issued.keyPem, { mode: 0o600 });
  return { certFile, keyFile, caPem: ca.certPem };
}

/** Trusts `caPem` for the HTTPS endpoint `endpoint` in {@link clientFor} and {@link rawRequest}. */
export function trustEndpoint(endpoint: string, caPem: string): void {
  trustedCas.set(new URL(endpoint).origin, caPem);
}

/**
 * Starts `n` nodes running `s3`; resolves once every leaf set is complete. With `tls`, the
 * endpoints speak HTTPS with that certificate, and the harness's clients trust its CA.
 */
export async function startS3Ring(
  cleanup: (fn: () => Promise<void>) => void,
  n: number,
  config: ConfigInput = {},
  tls?: EndpointCertificate,
  /** Launch options of node `i` (e.g. a fake disk: `diskSpace`). */
  launch: (i: number) => LaunchOptions = () => ({}),
): Promise<S3Node[]> {
  const s3 = { ...TEST_S3, ...((config['s3'] as object) ?? {}), ...(tls ? { tls: { cert: tls.certFile, key: tls.keyFile } } : {}) };
  const base: ConfigInput = { apps: ['s3'], ...config, s3 };
  const first = await startNode(cleanup, { config: base, name: 'node-0', launch: launch(0) });
  const rest = await Promise.all(Array.from({ length: n - 1 }, (_, i) => startNode(cleanup, { bootstrap: [first.node.address], config: base, name: `node-${i + 1}`, launch: launch(i + 1) })));
  const nodes = [first, ...rest];
  await waitFor(() => nodes.every((x) => x.node.overlay.leafSetMembers().length >= Math.min(n - 1, 24)), { timeoutMs: 25_000, what: `a complete ring of ${n}` });
  return nodes.map((t) => {
    const s3 = t.node.service<S3Service>('s3');
    assert.ok(s3, 'the s3 application runs');
    if (tls) trustEndpoint(s3.endpoint, tls.caPem);
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
export function clientFor(endpoint: string, user: TestUser | undefined, options: { pathStyle?: boolean; retries?: number; config?: Partial<S3ClientConfig> } = {}): S3Client {
  const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: options.pathStyle ?? true,
    maxAttempts: options.retries ?? 1,
    logger: quiet,
    ...httpsHandler(endpoint),
    ...(user ? { credentials: { accessKeyId: user.accessKey, secretAccessKey: user.secret } } : { signer: { sign: async (request: unknown) => request } as never, credentials: { accessKeyId: '', secretAccessKey: '' } }),
    ...options.config,
  });
}

/** The SDK request handler of an HTTPS endpoint: an agent trusting the endpoint's CA. */
function httpsHandler(endpoint: string): Pick<S3ClientConfig, 'requestHandler'> {
  const url = new URL(endpoint);
  if (url.protocol !== 'https:') return {};
  const ca = trustedCas.get(url.origin);
  assert.ok(ca, `no CA is trusted for ${url.origin}`);
  return { requestHandler: { httpsAgent: new HttpsAgent({ ca, keepAlive: true }) } };
}

/** What {@link startS3Fixture} starts: a ring, two users and an SDK client for each of them (and an anonymous one) on every node. */
export interface S3Fixture {
  /** The ring's nodes; `nodes[0]` is the one the others bootstrapped from. */
  nodes: S3Node[];
  /** The user named `alice`, made through node 0: she owns the buckets the fixture creates. */
  alice: TestUser;
  /** The user named `bob`, made through node 1: a second user, with no rights on alice's buckets unless a test grants them. */
  bob: TestUser;
  /** Alice's client on each node: `aliceClients[i]` talks to `nodes[i]`. */
  aliceClients: S3Client[];
  /** Bob's client on each node: `bobClients[i]` talks to `nodes[i]`. */
  bobClients: S3Client[];
  /** An unsigned (anonymous) client on each node: `anonymousClients[i]` talks to `nodes[i]`. */
  anonymousClients: S3Client[];
}

/**
 * Starts the fixture most S3 tests share: a ring of 3 nodes running `s3` with `options.config`
 * (as {@link startS3Ring} takes it), the users `alice` (made through node 0) and `bob` (through
 * node 1), an SDK client on every node for alice, for bob and without credentials, and
 * `options.buckets` created empty by alice through node 0, one after the other. The clients'
 * destruction is registered with `cleanup` after the nodes' stops, so running the cleanups in
 * reverse order destroys the clients first.
 */
export async function startS3Fixture(
  cleanup: (fn: () => Promise<void>) => void,
  options: { config?: ConfigInput; buckets?: string[]; tls?: EndpointCertificate } = {},
): Promise<S3Fixture> {
  const nodes = await startS3Ring(cleanup, 3, options.config, options.tls);
  const alice = await createUser(nodes[0]!, 'alice');
  const bob = await createUser(nodes[1]!, 'bob');
  const aliceClients = nodes.map((n) => clientFor(n.endpoint, alice));
  const bobClients = nodes.map((n) => clientFor(n.endpoint, bob));
  const anonymousClients = nodes.map((n) => clientFor(n.endpoint, undefined));
  cleanup(async () => {
    for (const c of [...aliceClients, ...bobClients, ...anonymousClients]) c.destroy();
  });
  for (const bucket of options.buckets ?? []) await aliceClients[0]!.send(new CreateBucketCommand({ Bucket: bucket }));
  return { nodes, alice, bob, aliceClients, bobClients, anonymousClients };
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

/** A raw HTTP answer. */
export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** What an S3 answer to a raw request says: its status, and the error document's code and message. */
export interface RawOutcome {
  status: number;
  code: string | undefined;
  message: string | undefined;
}

/**
 * A PUT of a raw XML document to a sub-resource of `path` (`lifecycle`, `tagging`, …) by `user`,
 * with its Content-MD5 unless `md5` is false.
 */
export async function putXmlDocument(endpoint: string, user: TestUser, path: string, subresource: string, body: string, md5 = true): Promise<RawOutcome> {
  const { createHash } = await import('node:crypto');
  const data = Buffer.from(body);
  const headers: Record<string, string> = { 'content-type': 'application/xml' };
  if (md5) headers['content-md5'] = createHash('md5').update(data).digest('base64');
  const r = await rawRequest(endpoint, user, { method: 'PUT', path, query: { [subresource]: '' }, headers, body: data });
  const text = r.body.toString();
  return { status: r.status, code: /<Code>([^<]*)<\/Code>/.exec(text)?.[1], message: /<Message>([^<]*)<\/Message>/.exec(text)?.[1] };
}

/**
 * Sends a request signed with SigV4 (header auth, the SDK's signer) or unsigned when `user` is
 * undefined, over plain node:http (node:https for an HTTPS endpoint) so that the Host header and
 * the body are exactly as given.
 * `payload` chooses x-amz-content-sha256: the body's hash (default), UNSIGNED-PAYLOAD, or a
 * streaming value whose body `encode` builds from the seed signature.
 */
export async function rawRequest(
  endpoint: string,
  user: TestUser | undefined,
  req: {
    method: string;
    path: string;
    query?: Record<string, string>;
    headers?: Record<string, string>;
    body?: Buffer;
    host?: string;
    payload?: string;
    encode?: (seedSignature: string, amzDate: string) => Buffer;
    signingDate?: Date;
  },
): Promise<RawResponse> {
  const { SignatureV4 } = await import('@smithy/signature-v4');
  const { Sha256 } = await import('@aws-crypto/sha256-js');
  const { HttpRequest } = await import('@smithy/core/protocols');
  const { request: httpRequest } = await import('node:http');
  const { request: httpsRequest } = await import('node:https');
  const { createHash } = await import('node:crypto');
  const url = new URL(endpoint);
  const host = req.host ?? url.host;
  const body = req.body ?? Buffer.alloc(0);
  let headers: Record<string, string> = { host, ...(req.headers ?? {}) };
  let wire = body;
  if (user) {
    const payload = req.payload ?? createHash('sha256').update(body).digest('hex');
    headers['x-amz-content-sha256'] = payload;
    const signer = new SignatureV4({ credentials: { accessKeyId: user.accessKey, secretAccessKey: user.secret }, region: 'us-east-1', service: 's3', sha256: Sha256, uriEscapePath: false, applyChecksum: false });
    const signed = await signer.sign(new HttpRequest({ method: req.method, protocol: url.protocol, hostname: host, path: req.path, query: req.query ?? {}, headers }), { signingDate: req.signingDate ?? new Date() });
    headers = signed.headers as Record<string, string>;
    if (req.encode) {
      const seed = /Signature=([0-9a-f]{64})/.exec(headers['authorization'] ?? headers['Authorization'] ?? '')![1]!;
      wire = req.encode(seed, headers['x-amz-date']!);
    }
  }
  const qs = new URLSearchParams(req.query ?? {}).toString();
  const secure = url.protocol === 'https:';
  const request = secure ? httpsRequest : httpRequest;
  const ca = secure ? trustedCas.get(url.origin) : undefined;
  return new Promise((resolve, reject) => {
    const r = request(
      { host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port, method: req.method, ...(ca ? { ca, ...(req.host !== undefined && isIP(req.host.split(':')[0]!) === 0 ? { servername: req.host.split(':')[0] } : {}) } : {}), path: req.path + (qs ? `?${qs.replace(/\+/g, '%20')}` : ''), headers: { ...headers, 'content-length': String(wire.length) } },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (b: Buffer) => parts.push(b));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
        res.on('error', reject);
      },
    );
    r.on('error', reject);
    r.end(wire);
  });
}

/** An SDK client config with a SHA-512 implementation: the SDK computes none of its own. */
export const SDK_SHA512 = {
  checksumAlgorithms: {
    SHA512: class {
      hash = createHash('sha512');
      update(data: Uint8Array): void {
        this.hash.update(data);
      }
      digest(): Promise<Uint8Array> {
        return Promise.resolve(new Uint8Array(this.hash.digest()));
      }
      reset(): void {
        this.hash = createHash('sha512');
      }
    },
  },
};
