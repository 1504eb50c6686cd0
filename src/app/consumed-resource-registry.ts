/**
 * Consumed resource registry: tracks who uses a local resource so that it is created when its
 * first consumer registers and released when its last consumer deregisters (e.g. a network
 * set-up shared by several applications on one node).
 *
 * Creation and release are serialised per resource: a consumer registering while the resource is
 * being released waits and gets a freshly created one, never a half-released one.
 */

/** How to create and release one kind of resource. */
export interface ResourceLifecycle<R> {
  create(id: string): R | Promise<R>;
  release(id: string, resource: R): void | Promise<void>;
}

interface Entry<R> {
  consumers: Set<string>;
  resource: R | undefined;
  /** The pending create/release chain for this resource. */
  chain: Promise<void>;
}

export class ConsumedResourceRegistry<R> {
  private readonly entries = new Map<string, Entry<R>>();

  constructor(private readonly lifecycle: ResourceLifecycle<R>) {}

  /**
   * Registers `consumer` on resource `id`, creating the resource if this is its first consumer.
   * Resolves with the resource. Registering the same consumer twice is harmless.
   */
  async register(id: string, consumer: string): Promise<R> {
    const entry = this.entry(id);
    entry.consumers.add(consumer);
    await this.enqueue(id, entry, async () => {
      if (entry.resource === undefined && entry.consumers.size > 0) entry.resource = await this.lifecycle.create(id);
    });
    if (entry.resource === undefined) throw new Error(`resource ${id} was released before ${consumer} could use it`);
    return entry.resource;
  }

  /**
   * Removes `consumer` from resource `id`; releases the resource when no consumer is left.
   * Resolves with whether the resource was released.
   */
  async deregister(id: string, consumer: string): Promise<boolean> {
    const entry = this.entries.get(id);
    if (!entry || !entry.consumers.delete(consumer)) return false;
    let released = false;
    await this.enqueue(id, entry, async () => {
      if (entry.consumers.size === 0 && entry.resource !== undefined) {
        const r = entry.resource;
        entry.resource = undefined;
        await this.lifecycle.release(id, r);
        released = true;
      }
    });
    return released;
  }

  /** Current consumers of a resource. */
  consumers(id: string): string[] {
    return [...(this.entries.get(id)?.consumers ?? [])];
  }

  /** Resources that currently exist. */
  resources(): string[] {
    return [...this.entries].filter(([, e]) => e.resource !== undefined).map(([id]) => id);
  }

  private entry(id: string): Entry<R> {
    let e = this.entries.get(id);
    if (!e) {
      e = { consumers: new Set(), resource: undefined, chain: Promise.resolve() };
      this.entries.set(id, e);
    }
    return e;
  }

  private enqueue(id: string, entry: Entry<R>, step: () => Promise<void>): Promise<void> {
    const run = entry.chain.then(step);
    // The chain continues after a failure; the failure goes to this caller only.
    entry.chain = run.catch(() => {}).then(() => {
      if (entry.consumers.size === 0 && entry.resource === undefined && this.entries.get(id) === entry && entry.chain === chainAfter) {
        this.entries.delete(id);
      }
    });
    const chainAfter = entry.chain;
    return run;
  }
}
