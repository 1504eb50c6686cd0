/**
 * `pi decommission --yes`: takes a node out of the ring for good through its ops API. The node
 * copies what it holds (S3 chunks) to the nodes that take its place, hands its DHT records off,
 * leaves and stops; this command follows it until it is gone.
 */
import { RealEnv, silentLogger } from '../env/index.ts';
import type { DecommissionStatus } from '../node/pi-node.ts';
import type { OpsClient } from './client.ts';
import { CliError, formatDuration } from './output.ts';
import type { Output } from './output.ts';

const env = new RealEnv({ logger: silentLogger });
const POLL_MS = 1000;

/** One line of progress: each service's summary. */
function describe(s: DecommissionStatus): string {
  const services = Object.entries(s.services).map(([name, p]) => {
    if (typeof p['chunks'] === 'number') return `${name}: ${p['chunks']} of ${p['total']} chunks examined, ${p['sent']} copies sent${p['failed'] ? `, ${p['failed']} failed` : ''}`;
    return `${name}: ${JSON.stringify(p)}`;
  });
  return `${s.state}${services.length > 0 ? ` (${services.join('; ')})` : ''}`;
}

export async function decommission(client: OpsClient, out: Output, options: { yes: boolean; wait: boolean }): Promise<void> {
  if (!options.yes) {
    throw new CliError('ConfirmationNeeded', 'this takes the node out of the ring for good (it copies what it holds to other nodes, leaves and stops): run again with --yes', 2);
  }
  const started = await client.post<{ decommission: DecommissionStatus }>('/api/node/decommission', {});
  let last = started.decommission;
  if (!options.wait) {
    out.result(started, () => `decommission started: ${describe(last)}; follow it with GET /api/node/decommission`);
    return;
  }
  let shown = '';
  for (;;) {
    const line = describe(last);
    if (!out.json && line !== shown) out.progress('node.decommission', line);
    shown = line;
    if (last.state === 'done') break;
    await env.sleep(POLL_MS);
    try {
      last = (await client.get<{ decommission: DecommissionStatus | null }>('/api/node/decommission')).decommission ?? last;
    } catch {
      // The ops API goes with the node: gone once it was leaving.
      if (last.state === 'leaving') {
        last = { ...last, state: 'done' };
        continue;
      }
      throw new CliError('Unreachable', `lost the node while it was ${last.state}: see its log (events node.decommissioning, node.drained)`);
    }
  }
  out.result({ decommission: last }, () => `decommissioned in ${formatDuration(env.now() - last.startedAt)}: the node left the ring and stopped. Disable its service (systemctl disable pi) so that it does not start again, and take it out of the other nodes' bootstrap lists.`);
}
