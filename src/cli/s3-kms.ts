/**
 * `pi s3 kms-key …`: the SSE-KMS keys of the ring through a node's ops API
 * (`/api/s3/kms/keys`): create (with an alias and a description), list, enable, disable.
 */
import type { KmsKeyInfo } from '../cloud/s3/kms.ts';
import type { OpsClient } from './client.ts';
import { table } from './output.ts';
import type { Output } from './output.ts';

const keyPath = (key: string): string => `/api/s3/kms/keys/${encodeURIComponent(key)}`;

/** A time as `2026-05-01 12:00:00Z`. */
function when(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, 'Z');
}

/** `pi s3 kms-key create [--alias NAME] [--description TEXT]`. */
export async function create(client: OpsClient, out: Output, options: { alias?: string; description?: string }): Promise<void> {
  const k = await client.post<KmsKeyInfo>('/api/s3/kms/keys', options);
  out.result(k, () =>
    [`created KMS key ${k.id}`, `  arn    ${k.arn}`, ...(k.alias !== undefined ? [`  alias  ${k.alias}`] : []), `  use it with: --sse aws:kms --sse-kms-key-id ${k.alias ?? k.id}`].join('\n'),
  );
}

/** `pi s3 kms-key list`. */
export async function list(client: OpsClient, out: Output): Promise<void> {
  const r = await client.get<{ keys: KmsKeyInfo[] }>('/api/s3/kms/keys');
  out.result(r, () => {
    if (r.keys.length === 0) return 'no KMS keys (pi s3 kms-key create makes one)';
    const state = (s: string): string => (s === 'Enabled' ? out.style(s, 'green') : out.style(s, 'yellow'));
    const rows = r.keys.map((k) => [k.id, k.alias ?? '', state(k.state), when(k.createdAt), k.description ?? '']);
    return `${table(['KEY ID', 'ALIAS', 'STATE', 'CREATED', 'DESCRIPTION'], rows)}\n${r.keys.length} key${r.keys.length === 1 ? '' : 's'}`;
  });
}

/** `pi s3 kms-key enable|disable KEY` (id, ARN or alias). */
export async function setState(client: OpsClient, out: Output, key: string, state: 'Enabled' | 'Disabled'): Promise<void> {
  const k = await client.post<KmsKeyInfo>(keyPath(key), { state });
  out.result(k, () => `KMS key ${k.id}${k.alias !== undefined ? ` (${k.alias})` : ''} is ${k.state}${k.state === 'Disabled' ? ': objects under it cannot be read or written until it is enabled again' : ''}`);
}
