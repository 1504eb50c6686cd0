/**
 * `pi user …`: the users of the `s3` application and their access keys, through a node's ops API
 * (`/api/s3/users`): list, show, delete; `pi user key create | enable | disable | delete`.
 * (`pi user create` is in program.ts.)
 */
import type { OpsClient } from './client.ts';
import { CliError, table } from './output.ts';
import type { Output } from './output.ts';

/** A user as `GET /api/s3/users` lists it. */
interface ListedUser {
  name: string;
  id: string;
  createdAt?: number;
}

/** A user as `GET /api/s3/users/:name` describes it (src/cloud/s3/catalog.ts). */
interface UserDescription {
  name: string;
  id: string;
  createdAt: number;
  accessKeys: { accessKey: string; status: 'Active' | 'Inactive' | 'Missing'; createdAt?: number }[];
  deleting?: number;
  mfa?: { serial: string; createdAt: number };
}

/** Largest page asked for. */
const PAGE = 1000;

const userPath = (name: string): string => `/api/s3/users/${encodeURIComponent(name)}`;
const keyPath = (name: string, key: string): string => `${userPath(name)}/keys/${encodeURIComponent(key)}`;

/** A time as `2026-05-01 12:00:00Z`. */
function when(ms: number | undefined): string {
  return ms === undefined ? '' : new Date(ms).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, 'Z');
}

/** `pi user list`: every user (or the first `limit`), paging through the registry. */
export async function list(client: OpsClient, out: Output, limit: number | undefined): Promise<void> {
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new CliError('InvalidArgument', '--limit must be a positive integer', 2);
  const users: ListedUser[] = [];
  let after: string | undefined;
  let more = false;
  for (;;) {
    const want = Math.min(PAGE, limit === undefined ? PAGE : limit - users.length);
    const page = await client.get<{ users: ListedUser[]; next?: string }>(`/api/s3/users?limit=${want}${after !== undefined ? `&after=${encodeURIComponent(after)}` : ''}`);
    users.push(...page.users);
    after = page.next;
    if (after === undefined) break;
    if (limit !== undefined && users.length >= limit) {
      more = true;
      break;
    }
  }
  out.result({ users, ...(more ? { next: after } : {}) }, () => {
    if (users.length === 0) return 'no S3 users';
    const rows = users.map((u) => [u.name, u.id, when(u.createdAt)]);
    const count = `${users.length} user${users.length === 1 ? '' : 's'}${more ? ' (more: raise --limit)' : ''}`;
    return `${table(['NAME', 'CANONICAL ID', 'CREATED'], rows)}\n${count}`;
  });
}

/** `pi user show NAME`. */
export async function show(client: OpsClient, out: Output, name: string): Promise<void> {
  const u = await client.get<UserDescription>(userPath(name));
  out.result(u, () => {
    const lines = [`S3 user ${u.name}`, `  canonical id  ${u.id}`, `  created       ${when(u.createdAt)}`];
    if (u.deleting !== undefined) lines.push(`  ${out.style('being deleted', 'yellow')} since ${when(u.deleting)}`);
    if (u.accessKeys.length === 0) {
      lines.push('  access keys   none (pi user key create to add one)');
    } else {
      lines.push(`  access keys   ${u.accessKeys.length}`);
      const status = (s: string): string => (s === 'Active' ? out.style(s, 'green') : s === 'Inactive' ? out.style(s, 'yellow') : out.style(`${s} (its record is gone: pi user key delete)`, 'red'));
      const rows = u.accessKeys.map((k) => [k.accessKey, status(k.status), when(k.createdAt)]);
      lines.push(...table(['ACCESS KEY', 'STATUS', 'CREATED'], rows).split('\n').map((l) => `    ${l}`));
    }
    lines.push(`  MFA device    ${u.mfa ? `${u.mfa.serial} (created ${when(u.mfa.createdAt)})` : 'none (pi user mfa create to add one)'}`);
    return lines.join('\n');
  });
}

/** `pi user delete NAME`. */
export async function remove(client: OpsClient, out: Output, name: string): Promise<void> {
  const r = await client.delete<{ name: string; id: string; accessKeys: string[] }>(userPath(name));
  out.result(r, () => `deleted S3 user ${r.name} and its ${r.accessKeys.length} access key${r.accessKeys.length === 1 ? '' : 's'}`);
}

/** `pi user key create NAME`. */
export async function createKey(client: OpsClient, out: Output, name: string): Promise<void> {
  const r = await client.post<{ name: string; accessKey: string; secret: string; endpoint?: string }>(`${userPath(name)}/keys`, {});
  out.result(r, () =>
    [`created an access key for S3 user ${r.name}`, `  endpoint           ${r.endpoint ?? ''}`, `  access key id      ${r.accessKey}`, `  secret access key  ${r.secret}  (shown once)`].join('\n'),
  );
}

/** `pi user key enable|disable NAME KEY`. */
export async function setKeyStatus(client: OpsClient, out: Output, name: string, key: string, status: 'Active' | 'Inactive'): Promise<void> {
  const r = await client.post<{ name: string; accessKey: string; status: string }>(keyPath(name, key), { status });
  out.result(r, () => `access key ${r.accessKey} of S3 user ${r.name} is ${r.status}${r.status === 'Inactive' ? ' (every node refuses it within s3.cacheMs)' : ''}`);
}

/** `pi user key delete NAME KEY`. */
export async function deleteKey(client: OpsClient, out: Output, name: string, key: string): Promise<void> {
  const r = await client.delete<{ name: string; accessKey: string }>(keyPath(name, key));
  out.result(r, () => `deleted access key ${r.accessKey} of S3 user ${r.name} (every node refuses it within s3.cacheMs)`);
}

/** `pi user mfa create NAME`: a new virtual MFA device (its secret is shown once). */
export async function createMfa(client: OpsClient, out: Output, name: string): Promise<void> {
  const r = await client.post<{ name: string; serial: string; secret: string; uri: string }>(`${userPath(name)}/mfa`, {});
  out.result(r, () =>
    [
      `created a virtual MFA device for S3 user ${r.name} (any device it had before stops working)`,
      `  serial number  ${r.serial}`,
      `  secret         ${r.secret}  (shown once: add it to an authenticator app)`,
      `  otpauth URI    ${r.uri}`,
      `  use            x-amz-mfa: "${r.serial} <code>"  (aws s3api … --mfa "${r.serial} <code>")`,
    ].join('\n'),
  );
}

/** `pi user mfa delete NAME`. */
export async function deleteMfa(client: OpsClient, out: Output, name: string): Promise<void> {
  const r = await client.delete<{ name: string }>(`${userPath(name)}/mfa`);
  out.result(r, () => `removed the MFA device of S3 user ${r.name}`);
}
