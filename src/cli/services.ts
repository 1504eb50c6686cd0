/**
 * What a standard node runs: the core services every node starts (the DHT, Scribe and the application
 * host) and the applications the `apps` setting can choose from.
 */
import { AppHostService, ApplicationRegistry, DhtService, ScribeService } from '../node/index.ts';
import type { NodeService, PiConfig } from '../node/index.ts';
import { EXAMPLE_APPLICATIONS, STANDARD_APPLICATIONS } from './standard-apps.ts';

/** Core services of a standard node, in start order. */
export function coreServices(_config: PiConfig): NodeService[] {
  return [new DhtService(), new ScribeService(), new AppHostService()];
}

/** Applications a standard node can run (`apps` setting, `--apps`), the examples included. */
export function standardApplications(): ApplicationRegistry {
  return new ApplicationRegistry([...STANDARD_APPLICATIONS, ...EXAMPLE_APPLICATIONS]);
}
