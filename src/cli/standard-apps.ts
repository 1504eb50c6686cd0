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

/**
 * Example applications a node can also run when asked for (`--apps job-api,job-worker`); `pi up`
 * does not start them by default. See examples/job-runner/README.md.
 */
export const EXAMPLE_APPLICATIONS: readonly ApplicationFactory[] = [
  {
    name: 'job-api',
    description: 'Example job runner: HTTP API on a seeded address that moves when its node dies',
    create: async (config) => (await import('../../examples/job-runner/node.ts')).jobApiApplication.create(config),
  },
  {
    name: 'job-worker',
    description: 'Example job runner: runs queued jobs on nodes with free capacity',
    create: async (config) => (await import('../../examples/job-runner/node.ts')).jobWorkerApplication.create(config),
  },
];
