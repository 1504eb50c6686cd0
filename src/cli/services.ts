/**
 * What a standard node runs: the core services every node starts (the DHT and Scribe, as they
 * land) and the applications the `apps` setting can choose from.
 */
import { ApplicationRegistry, DhtService, ScribeService } from '../node/index.ts';
import type { NodeService, PiConfig } from '../node/index.ts';
import { s3Application } from '../cloud/s3/service.ts';

/** Core services of a standard node, in start order. */
export function coreServices(_config: PiConfig): NodeService[] {
  return [new DhtService(), new ScribeService()];
}

/** Applications a standard node can run (`apps` setting, `--apps`). */
export function standardApplications(): ApplicationRegistry {
  return new ApplicationRegistry([s3Application]);
}
