/**
 * The job runner's shared model: job records, the task queue and topic names, and the job's
 * computation.
 */
import { Scope, idFor } from '../../src/id/index.ts';
import type { Id } from '../../src/id/index.ts';
import type { Entity } from '../../src/dht/index.ts';

/** Name of the task queue holding jobs not finished yet. */
export const JOB_QUEUE = 'jobs';
/** Topic workers with free capacity subscribe to. */
export const CAPACITY_TOPIC = 'job-runner:capacity';
/** The API application. */
export const API_APP = 'job-api';
/** The worker application. */
export const WORKER_APP = 'job-worker';

/** What a job computes: `sum of i*i for i in 1..n`, modulo a prime (so it is cheap and checkable). */
export interface JobInput {
  n: number;
  /** Simulated work time in ms (default from the worker's settings). */
  workMs?: number;
}

export type JobState = 'queued' | 'running' | 'done' | 'failed';

/** The record of one job (`job:<id>`). */
export interface JobRecord extends Entity {
  type: 'job';
  url: string;
  id: string;
  state: JobState;
  input: JobInput;
  submittedAt: number;
  /** Node that ran it (last attempt). */
  node?: string;
  startedAt?: number;
  finishedAt?: number;
  result?: number;
  /** Why it failed (retries exhausted). */
  error?: string;
}

/** The job's URI (also its task URI in the queue). */
export const jobUri = (id: string): string => `job:${id}`;

/** Where the job's record lives. */
export function jobId(id: string): Id {
  return idFor(jobUri(id), Scope.GLOBAL);
}

const PRIME = 1_000_000_007n;

/** The job's result. */
export function compute(input: JobInput): number {
  let sum = 0n;
  const n = BigInt(Math.max(0, Math.min(input.n, 1_000_000)));
  for (let i = 1n; i <= n; i++) sum = (sum + i * i) % PRIME;
  return Number(sum);
}

/** Checks a submitted input. */
export function checkInput(x: unknown): JobInput | string {
  if (typeof x !== 'object' || x === null) return 'input must be an object { n, workMs? }';
  const { n, workMs } = x as { n?: unknown; workMs?: unknown };
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 1_000_000) return 'input.n must be an integer 0..1000000';
  if (workMs !== undefined && (typeof workMs !== 'number' || !Number.isInteger(workMs) || workMs < 0 || workMs > 600_000)) return 'input.workMs must be an integer 0..600000';
  return workMs === undefined ? { n } : { n, workMs };
}

const ID = /^[A-Za-z0-9._-]{1,100}$/;

/** Checks a job id. */
export function checkJobId(x: unknown): string | undefined {
  return typeof x === 'string' && ID.test(x) ? x : undefined;
}
