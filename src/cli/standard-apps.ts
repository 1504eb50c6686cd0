/**
 * The applications a standard node can run (the `apps` setting), as factories that load their
 * code only on the nodes that run them. Kept free of node imports so that `pi up` can list the
 * names without loading the node.
 */
import type { ApplicationFactory } from '../node/service.ts';

export const STANDARD_APPLICATIONS: readonly ApplicationFactory[] = [
  {
    name: 's3',
    description: 'Pi Cloud storage: an S3-compatible object store on the ring',
    create: async (config) => (await import('../cloud/s3/service.ts')).s3Application.create(config),
  },
];
