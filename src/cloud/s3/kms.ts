/**
 * The ring's KMS keys (SSE-KMS): records in the DHT partition `s3registry:kms`, and the wrapping
 * of per-object data keys under them.
 *
 * - A key is the item `key/<uuid>`: its id, ARN (`arn:aws:kms:<region>:<ring account>:key/<id>`),
 *   optional alias and description, state (Enabled / Disabled), creation time, and 256 bits of
 *   key material wrapped with AES-256-GCM under the node master key (the SSE-S3 master key):
 *   the DHT never holds the material in clear, and a node without the master key cannot use it.
 * - An alias is the item `alias/<name>` naming a key id (written once, with writeIfAbsent, so two
 *   nodes creating the same alias agree on one key).
 * - Object data keys are wrapped with AES-256-GCM under the key's material, with the object's
 *   encryption context (canonical JSON) as additional authenticated data: an entry whose context
 *   was altered does not unwrap.
 * - `aws/s3` (alias `alias/aws/s3`): the AWS-managed default key, created on first use as AWS
 *   does. With `s3.kms.autoCreateKeys`, a key named by a bare name (`testkey-1`) that does not
 *   exist is created on first use with that alias (test rings: what conformance suites configure).
 *
 * Keys are read from the DHT on every use (a quorum read), so a key disabled through one node
 * is refused by every node at once.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import type { Dht } from '../../dht/index.ts';
import type { Env, Logger } from '../../env/index.ts';
import { Scope, idFor } from '../../id/index.ts';
import type { Id } from '../../id/index.ts';
import { S3Error, canonicalContext, parseKmsKeyRef } from './protocol/index.ts';
import type { KmsSealedKey, MasterKeys, ManagedSealedKey } from './encryption.ts';

export type { KmsSealedKey } from './encryption.ts';
import { StorageError } from './errors.ts';

/** The registry partition of KMS keys and aliases. */
export const KMS_REGISTRY: Id = idFor('s3registry:kms', Scope.GLOBAL);
/** The account id in the ARNs of the ring's keys (the ring is one account). */
export const RING_ACCOUNT = '000000000000';
/** Alias of the AWS-managed default key. */
export const DEFAULT_KEY_ALIAS = 'alias/aws/s3';

const KEY_PREFIX = 'key/';
const GCM_NONCE = 12;
const GCM_TAG = 16;
const DATA_KEY_BYTES = 32;

/** A key's state. */
export type KmsKeyState = 'Enabled' | 'Disabled';

/** A key record (`key/<id>`). */
export interface KmsKeyEntry {
  type: 's3.kmsKey';
  id: string;
  arn: string;
  alias?: string;
  description?: string;
  state: KmsKeyState;
  createdAt: number;
  /** The AWS-managed default key (`aws/s3`). */
  awsManaged?: boolean;
  /** The 32-byte key material wrapped under the master key. */
  material: ManagedSealedKey;
  [k: string]: unknown;
}

/** An alias record (`alias/<name>`). */
interface KmsAliasEntry {
  type: 's3.kmsAlias';
  keyId: string;
  [k: string]: unknown;
}

/** A key as listed and described: its record without the material (never shown). */
export type KmsKeyInfo = Pick<KmsKeyEntry, 'id' | 'arn' | 'alias' | 'description' | 'state' | 'createdAt' | 'awsManaged'> & {
  /** Id of the master key its material is wrapped under. */
  masterKeyId: string;
};

/** Counters of the key service on this node. */
export interface KmsStats {
  /** Keys of the ring as this node last listed them (undefined: never listed). */
  keys: number | undefined;
  /** Operations by `<op>:<result>` (op: create, encrypt, decrypt, setState, rewrap; result: ok, disabled, not_found, error). */
  ops: Record<string, number>;
}

/** Options of the key service. */
export interface KmsOptions {
  region: string;
  /** Create a key named by a bare name on first use (test rings). */
  autoCreateKeys: boolean;
}

function info(e: KmsKeyEntry): KmsKeyInfo {
  return {
    id: e.id,
    arn: e.arn,
    ...(e.alias !== undefined ? { alias: e.alias } : {}),
    ...(e.description !== undefined ? { description: e.description } : {}),
    state: e.state,
    createdAt: e.createdAt,
    ...(e.awsManaged ? { awsManaged: true } : {}),
    masterKeyId: e.material.kid,
  };
}

function notFound(ref: string): S3Error {
  return new S3Error('KMS.NotFoundException', `Invalid keyId ${ref.slice(0, 256)}`);
}

function disabled(arn: string): S3Error {
  return new S3Error('KMS.DisabledException', `${arn} is disabled.`);
}

/** The ring's KMS keys on one node. */
export class KmsKeys {
  readonly stats: KmsStats = { keys: undefined, ops: {} };
  private readonly log: Logger;

  constructor(
    private readonly dht: Dht,
    private readonly env: Env,
    private readonly master: MasterKeys,
    private readonly options: KmsOptions,
  ) {
    this.log = env.log.child({ mod: 's3.kms' });
  }

  private count(op: string, result: string): void {
    const k = `${op}:${result}`;
    this.stats.ops[k] = (this.stats.ops[k] ?? 0) + 1;
  }

  /** The ARN of key `id`. */
  arnOf(id: string): string {
    return `arn:aws:kms:${this.options.region}:${RING_ACCOUNT}:key/${id}`;
  }

  private uuid(): string {
    const b = Buffer.from(this.env.random.bytes(16));
    b[6] = (b[6]! & 0x0f) | 0x40;
    b[8] = (b[8]! & 0x3f) | 0x80;
    const h = b.toString('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  /**
   * Creates a key (with `alias`, `alias/…` or a bare name, if given). A taken alias is a
   * `Conflict` and creates nothing.
   */
  async create(options: { alias?: string; description?: string; awsManaged?: boolean } = {}): Promise<KmsKeyInfo> {
    const alias = options.alias === undefined ? undefined : normaliseAlias(options.alias);
    if (alias !== undefined && alias.startsWith('alias/aws/') && !options.awsManaged) throw new StorageError('InvalidArgument', 'aliases beginning with alias/aws/ are reserved for AWS-managed keys');
    if (options.description !== undefined && options.description.length > 8192) throw new StorageError('InvalidArgument', 'a description has at most 8192 characters');
    const id = this.uuid();
    const material = Buffer.from(this.env.random.bytes(DATA_KEY_BYTES));
    const entry: KmsKeyEntry = {
      type: 's3.kmsKey',
      id,
      arn: this.arnOf(id),
      ...(alias !== undefined ? { alias } : {}),
      ...(options.description !== undefined ? { description: options.description } : {}),
      state: 'Enabled',
      createdAt: this.env.now(),
      ...(options.awsManaged ? { awsManaged: true } : {}),
      material: this.master.wrap(material, this.env.random.bytes(GCM_NONCE)),
    };
    await this.dht.putItem<KmsKeyEntry>(KMS_REGISTRY, KEY_PREFIX + id, entry);
    if (alias !== undefined) {
      const r = await this.dht.writeItemIfAbsent<KmsAliasEntry>(KMS_REGISTRY, alias, { type: 's3.kmsAlias', keyId: id });
      if (!r.written) {
        // Another key has the alias (perhaps made at the same time through another node): ours goes.
        await this.dht.updateItem<KmsKeyEntry>(KMS_REGISTRY, KEY_PREFIX + id, () => ({ ...entry, deleted: true }) as unknown as KmsKeyEntry);
        this.count('create', 'conflict');
        throw new StorageError('Conflict', `the alias ${alias} names key ${(r.record.body as KmsAliasEntry).keyId} already`);
      }
    }
    this.count('create', 'ok');
    if (this.stats.keys !== undefined) this.stats.keys++;
    this.log.info({ event: 's3.kmsKeyCreated', keyId: id, alias: alias ?? null }, `KMS key ${id} created${alias ? ` (${alias})` : ''}`);
    return info(entry);
  }

  /** Every key of the ring, in id order. */
  async list(): Promise<KmsKeyInfo[]> {
    const out: KmsKeyInfo[] = [];
    let after: string | undefined;
    do {
      const page = await this.dht.scanPartition<KmsKeyEntry>(KMS_REGISTRY, { prefix: KEY_PREFIX, limit: 1000, ...(after !== undefined ? { after } : {}) });
      for (const item of page.items) out.push(info(item.body));
      after = page.next;
    } while (after !== undefined);
    this.stats.keys = out.length;
    return out;
  }

  /** The key record `id`, undefined when there is none. */
  private async byId(id: string): Promise<KmsKeyEntry | undefined> {
    const r = await this.dht.getItem<KmsKeyEntry>(KMS_REGISTRY, KEY_PREFIX + id);
    return r && !r.deleted ? r.body : undefined;
  }

  /** The key an alias (`alias/…`) names, undefined when there is none. */
  private async byAlias(alias: string): Promise<KmsKeyEntry | undefined> {
    const r = await this.dht.getItem<KmsAliasEntry>(KMS_REGISTRY, alias);
    if (!r || r.deleted) return undefined;
    return this.byId(r.body.keyId);
  }

  /**
   * The key `ref` names (key id, key ARN, alias, alias ARN, or a bare name when
   * `s3.kms.autoCreateKeys` is on); `KMS.NotFoundException` when none. `create`: a missing bare
   * name is created (autoCreateKeys only).
   */
  async resolve(ref: string, create = false): Promise<KmsKeyEntry> {
    const parsed = parseKmsKeyRef(ref);
    let key: KmsKeyEntry | undefined;
    switch (parsed.kind) {
      case 'id':
        key = await this.byId(parsed.id);
        break;
      case 'arn':
        key = await this.byId(parsed.id);
        if (key && (parsed.region !== this.options.region || parsed.account !== RING_ACCOUNT)) key = undefined;
        break;
      case 'alias':
        key = await this.byAlias(parsed.alias);
        if (!key && parsed.alias === DEFAULT_KEY_ALIAS) key = await this.defaultKey();
        break;
      case 'aliasArn':
        key = parsed.region === this.options.region && parsed.account === RING_ACCOUNT ? await this.byAlias(parsed.alias) : undefined;
        break;
      case 'name':
        if (!this.options.autoCreateKeys) break;
        key = await this.byAlias(`alias/${parsed.name}`);
        if (!key && create) key = await this.createOrFind(`alias/${parsed.name}`, { description: 'created on first use (s3.kms.autoCreateKeys)' });
        break;
    }
    if (!key) {
      this.count('resolve', 'not_found');
      this.log.info({ code: 'KmsKeyNotFound', ref: ref.slice(0, 256) }, 'SSE-KMS request names an unknown KMS key');
      throw notFound(ref);
    }
    return key;
  }

  /** The AWS-managed default key `aws/s3`, created on first use (as AWS does). */
  async defaultKey(): Promise<KmsKeyEntry> {
    return (await this.byAlias(DEFAULT_KEY_ALIAS)) ?? (await this.createOrFind(DEFAULT_KEY_ALIAS, { description: 'Default key that protects my S3 objects when no other key is defined', awsManaged: true }));
  }

  /** Creates a key with `alias`, or (when another node won the alias) the key it names. */
  private async createOrFind(alias: string, options: { description: string; awsManaged?: boolean }): Promise<KmsKeyEntry> {
    try {
      const made = await this.create({ alias, ...options });
      const key = await this.byId(made.id);
      if (key) return key;
    } catch (err) {
      if (!(err instanceof StorageError) || err.code !== 'Conflict') throw err;
    }
    const key = await this.byAlias(alias);
    if (!key) throw new S3Error('InternalError', 'the KMS key could not be created', { cause: new Error(`alias ${alias} has no key after creating it`) });
    return key;
  }

  /** Enables or disables key `ref` (id, ARN or alias); `NotFound` when there is none. */
  async setState(ref: string, state: KmsKeyState): Promise<KmsKeyInfo> {
    if (state !== 'Enabled' && state !== 'Disabled') throw new StorageError('InvalidArgument', 'state must be Enabled or Disabled');
    let key: KmsKeyEntry;
    try {
      key = await this.resolve(ref);
    } catch (err) {
      if (err instanceof S3Error) throw new StorageError('NotFound', `no KMS key ${ref.slice(0, 256)}`);
      throw err;
    }
    const r = await this.dht.updateItem<KmsKeyEntry>(KMS_REGISTRY, KEY_PREFIX + key.id, (current) => {
      if (!current || current.deleted) throw new StorageError('NotFound', `no KMS key ${ref.slice(0, 256)}`);
      return current.body.state === state ? null : { ...current.body, state };
    });
    this.count('setState', 'ok');
    this.log.info({ event: 's3.kmsKeyState', keyId: key.id, state }, `KMS key ${key.id} is ${state}`);
    return info(r!.body);
  }

  /** The key material of an enabled key (`KMS.DisabledException` otherwise). */
  private material(key: KmsKeyEntry, op: string): Buffer {
    if (key.state !== 'Enabled') {
      this.count(op, 'disabled');
      this.log.info({ code: 'KmsKeyDisabled', keyId: key.id, op }, 'SSE-KMS refused: the KMS key is disabled');
      throw disabled(key.arn);
    }
    return this.master.unwrap(key.material);
  }

  /**
   * Wraps `dataKey` under `key` (enabled) with `context` as AAD: what an entry keeps.
   * `bucketKey`: the context names the bucket.
   */
  seal(key: KmsKeyEntry, dataKey: Buffer, context: Record<string, string>, bucketKey: boolean): KmsSealedKey {
    const material = this.material(key, 'encrypt');
    const aad = Buffer.from(canonicalContext(context), 'utf8');
    const nonce = Buffer.from(this.env.random.bytes(GCM_NONCE));
    const c = createCipheriv('aes-256-gcm', material, nonce);
    c.setAAD(aad);
    const wrapped = Buffer.concat([nonce, c.update(dataKey), c.final(), c.getAuthTag()]);
    this.count('encrypt', 'ok');
    return { kms: key.arn, kwk: wrapped.toString('base64'), ctx: aad.toString('base64'), ...(bucketKey ? { bk: true as const } : {}) };
  }

  /**
   * The data key of `sealed`: its KMS key must exist (`KMS.NotFoundException`) and be enabled
   * (`KMS.DisabledException`); a wrapped key that does not authenticate is an `InternalError`.
   */
  async unseal(sealed: KmsSealedKey): Promise<Buffer> {
    const key = await this.resolve(sealed.kms).catch((err: unknown) => {
      this.count('decrypt', 'not_found');
      throw err;
    });
    const material = this.material(key, 'decrypt');
    const raw = Buffer.from(sealed.kwk, 'base64');
    if (raw.length !== GCM_NONCE + DATA_KEY_BYTES + GCM_TAG) throw unwrapError('malformed wrapped data key');
    const d = createDecipheriv('aes-256-gcm', material, raw.subarray(0, GCM_NONCE));
    d.setAAD(Buffer.from(sealed.ctx, 'base64'));
    d.setAuthTag(raw.subarray(GCM_NONCE + DATA_KEY_BYTES));
    try {
      const out = Buffer.concat([d.update(raw.subarray(GCM_NONCE, GCM_NONCE + DATA_KEY_BYTES)), d.final()]);
      this.count('decrypt', 'ok');
      return out;
    } catch {
      this.count('decrypt', 'error');
      throw unwrapError(`the data key does not authenticate under KMS key ${key.id} and its encryption context`);
    }
  }

  /**
   * Rewraps the material of every key not wrapped under the current master key (after a
   * master-key rotation; objects need nothing: their data keys are wrapped under the KMS keys).
   * `dryRun` only counts. Resolves with the keys seen, rewrapped (or to rewrap) and failed.
   */
  async rewrapMaterial(dryRun: boolean): Promise<{ keys: number; rewrapped: number; errors: number }> {
    let keys = 0;
    let rewrapped = 0;
    let errors = 0;
    let after: string | undefined;
    do {
      const page = await this.dht.scanPartition<KmsKeyEntry>(KMS_REGISTRY, { prefix: KEY_PREFIX, limit: 1000, ...(after !== undefined ? { after } : {}) });
      for (const item of page.items) {
        keys++;
        if (item.body.material.kid === this.master.current.id) continue;
        if (dryRun) {
          rewrapped++;
          continue;
        }
        try {
          await this.dht.updateItem<KmsKeyEntry>(KMS_REGISTRY, item.sortKey!, (current) => {
            if (!current || current.deleted || current.body.material.kid === this.master.current.id) return null;
            return { ...current.body, material: this.master.rewrap(current.body.material, this.env.random.bytes(GCM_NONCE)) };
          });
          rewrapped++;
          this.count('rewrap', 'ok');
        } catch (err) {
          errors++;
          this.count('rewrap', 'error');
          this.log.warn({ code: 'KmsRewrapFailed', keyId: item.body.id, err: (err as Error).message }, 'could not rewrap the material of a KMS key');
        }
      }
      after = page.next;
    } while (after !== undefined);
    return { keys, rewrapped, errors };
  }
}

function unwrapError(reason: string): S3Error {
  return new S3Error('InternalError', "The object's encryption key cannot be unwrapped.", { cause: Object.assign(new Error(reason), { code: 'SseKmsUnwrapFailed' }) });
}

/** `alias/name` of an alias given as `name` or `alias/name` (`InvalidArgument` when malformed). */
export function normaliseAlias(alias: string): string {
  const full = alias.startsWith('alias/') ? alias : `alias/${alias}`;
  if (!/^alias\/[A-Za-z0-9:/_-]{1,256}$/.test(full)) throw new StorageError('InvalidArgument', `"${alias.slice(0, 64)}" is not an alias name (letters, digits, / _ - :, at most 256)`);
  return full;
}
