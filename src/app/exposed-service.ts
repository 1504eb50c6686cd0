/**
 * Exposed services: an application reachable by external clients on a set of addresses, served
 * by N nodes at a time, each on one address of a seeded pool. When a serving node dies, its
 * address moves to another node within the expiry period, so clients keep using the same address.
 *
 * It is the shared-record activator with named slots: seed the application with the addresses
 * (`slots: [10.0.0.10, 10.0.0.11]`); the node that claims a slot takes the slot's address with
 * its {@link AddressDriver} (Linux: `ip addr` + gratuitous ARP; loopback: nothing to configure)
 * and starts serving on it; deactivating stops serving and gives the address up.
 *
 * Subclasses implement {@link startService} / {@link stopService}; {@link HttpExposedService}
 * does it for an HTTP handler.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Scope } from '../id/index.ts';
import type { Activation } from './activation.ts';
import { SharedRecordActivator } from './activators.ts';
import type { AddressDriver } from './address-drivers.ts';
import { PiApplication } from './application.ts';
import type { ApplicationOptions, DeactivationReason } from './application.ts';
import { AppError, errorInfo } from './errors.ts';

/** Options of an exposed service. */
export interface ExposedServiceOptions extends Omit<ApplicationOptions, 'activator'> {
  /** How addresses are taken and given up on this machine. */
  driver: AddressDriver;
  /** Scope of the application record (its address pool). Default global. */
  scope?: Scope | 'global' | 'region' | 'az';
  /** Failover bound: a dead node's address is served elsewhere within this. Default 15 s. */
  expiryMs?: number;
  /** Heartbeat / check period. Default expiry / 4. */
  checkIntervalMs?: number;
}

/** An application served on addresses that move between nodes. */
export abstract class ExposedServiceApplication extends PiApplication {
  readonly driver: AddressDriver;
  private current: string | undefined;

  constructor(name: string, options: ExposedServiceOptions) {
    const { driver, scope, expiryMs, checkIntervalMs, ...rest } = options;
    super(name, {
      ...rest,
      activator: new SharedRecordActivator({ ...(scope !== undefined ? { scope } : {}), ...(expiryMs !== undefined ? { expiryMs } : {}), ...(checkIntervalMs !== undefined ? { checkIntervalMs } : {}) }),
    });
    this.driver = driver;
  }

  /** The address this node serves on, while active. */
  get address(): string | undefined {
    return this.current;
  }

  /** Starts serving on `address` (the driver has taken it). */
  abstract startService(address: string): Promise<void>;

  /** Stops serving on `address` (before the driver gives it up). Also runs on an immediate stop: keep it local. */
  abstract stopService(address: string): Promise<void> | void;

  override async onActivate(activation: Activation): Promise<void> {
    const address = activation.slot?.value;
    if (!address) throw new AppError('InvalidArgument', `exposed service ${this.name} needs named slots (addresses) in its seeded record, got slot ${activation.slot?.index}`);
    await this.driver.acquire(address);
    this.current = address;
    try {
      await this.startService(address);
    } catch (err) {
      this.current = undefined;
      await this.driver.release(address).catch(() => {});
      throw err;
    }
    this.log.info({ event: 'app.exposed', address, driver: this.driver.name }, `serving on ${address}`);
  }

  override async onDeactivate(reason: DeactivationReason): Promise<void> {
    const address = this.current;
    if (!address) return;
    this.current = undefined;
    try {
      await this.stopService(address);
    } finally {
      try {
        await this.driver.release(address);
      } catch (err) {
        this.log.error({ code: errorInfo(err).code, address, err: errorInfo(err) }, `could not give up ${address}`);
      }
    }
    this.log.info({ event: 'app.unexposed', address, reason }, `stopped serving on ${address} (${reason})`);
  }
}

/** Handles one HTTP request of an {@link HttpExposedService}. */
export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/** Options of an {@link HttpExposedService}. */
export interface HttpExposedServiceOptions extends ExposedServiceOptions {
  port: number;
  handler: HttpHandler;
}

/** An exposed HTTP service: one `node:http` server on the address this node serves. */
export class HttpExposedService extends ExposedServiceApplication {
  readonly port: number;
  private readonly handler: HttpHandler;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(name: string, options: HttpExposedServiceOptions) {
    const { port, handler, ...rest } = options;
    super(name, rest);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new AppError('InvalidArgument', `port must be 1-65535, got ${port}`);
    this.port = port;
    this.handler = handler;
  }

  /** `http://address:port` while serving. */
  get url(): string | undefined {
    return this.address ? `http://${this.address}:${this.port}` : undefined;
  }

  async startService(address: string): Promise<void> {
    const server = createServer((req, res) => {
      Promise.resolve()
        .then(() => this.handler(req, res))
        .catch((err: unknown) => {
          this.host.reportError(this.name, err, 'http handler');
          if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: errorInfo(err) }));
        });
    });
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: address, port: this.port, exclusive: true }, () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
    this.server = server;
  }

  stopService(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return Promise.resolve();
    // Drop open connections too: clients reconnect to the address's next holder.
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    return new Promise((resolve) => server.close(() => resolve()));
  }
}
