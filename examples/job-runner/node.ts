/**
 * The job runner on real nodes: application factories for the `apps` setting (`job-api`,
 * `job-worker`), configured from environment variables so that no node setting is needed:
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | `JOB_API_PORT` | 8080 | HTTP port of the API on its service address |
 * | `JOB_API_DRIVER` | `loopback` | `loopback` (127.x.y.z addresses, one machine) or `linux` (`ip addr` + ARP) |
 * | `JOB_API_INTERFACE` | `eth0` | network interface of the linux driver |
 * | `JOB_API_EXPIRY_MS` | 15000 | failover bound of the API address |
 * | `JOB_WORKER_CAPACITY` | 2 | jobs run at once per node |
 * | `JOB_WORKER_WORK_MS` | 1000 | work time of a job without its own `workMs` |
 */
import { LinuxAddressDriver, LoopbackAddressDriver } from '../../src/app/index.ts';
import type { AddressDriver } from '../../src/app/index.ts';
import { frameworkApplication } from '../../src/node/app-host-service.ts';
import type { ApplicationFactory } from '../../src/node/service.ts';
import { HttpListeners } from './api-transport.ts';
import { JobApi } from './api.ts';
import { API_APP, WORKER_APP } from './jobs.ts';
import { JobWorker } from './worker.ts';

function intFromEnv(name: string, def: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer ${min}..${max}, got "${raw}"`);
  return n;
}

function driverFromEnv(): AddressDriver {
  const kind = process.env['JOB_API_DRIVER'] ?? 'loopback';
  if (kind === 'loopback') return new LoopbackAddressDriver();
  if (kind === 'linux') return new LinuxAddressDriver({ interface: process.env['JOB_API_INTERFACE'] ?? 'eth0' });
  throw new Error(`JOB_API_DRIVER must be loopback or linux, got "${kind}"`);
}

/** `job-api`: the exposed HTTP API of the job runner. */
export const jobApiApplication: ApplicationFactory = frameworkApplication(API_APP, 'Example job runner: HTTP API on a seeded address that moves when its node dies', () =>
  new JobApi({ driver: driverFromEnv(), listeners: new HttpListeners(), port: intFromEnv('JOB_API_PORT', 8080, 1, 65535), expiryMs: intFromEnv('JOB_API_EXPIRY_MS', 15_000, 1000, 3_600_000) }),
);

/** `job-worker`: runs jobs, with a fixed number of slots per node. */
export const jobWorkerApplication: ApplicationFactory = frameworkApplication(WORKER_APP, 'Example job runner: runs queued jobs on nodes with free capacity', () =>
  new JobWorker({ capacity: intFromEnv('JOB_WORKER_CAPACITY', 2, 1, 1000), defaultWorkMs: intFromEnv('JOB_WORKER_WORK_MS', 1000, 0, 600_000) }),
);
