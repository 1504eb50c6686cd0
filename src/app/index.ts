/** Application framework: application base classes, host, message contexts, activators and the patterns of Pi. */
export * from './errors.ts';
export * from './records.ts';
export * from './activation.ts';
export * from './activators.ts';
export * from './message-context.ts';
export * from './application.ts';
export * from './pubsub-application.ts';
export * from './host.ts';
export * from './watchers.ts';
export * from './consumed-resource-registry.ts';
export * from './address-drivers.ts';
export * from './seeder.ts';
export * from './task-queue.ts';
export * from './shared-resources.ts';
export * from './allocatable.ts';
export * from './subscriber-allocation.ts';
export * from './aggregation.ts';
