/**
 * Address drivers: how an exposed service takes and gives up a service address on this machine.
 *
 * - {@link LinuxAddressDriver}: adds the address to a network interface (`ip addr add`) and
 *   announces it with gratuitous ARP (`arping -U`), so that the LAN sends its traffic to this
 *   machine at once; removes it on release. Needs CAP_NET_ADMIN.
 * - {@link LoopbackAddressDriver}: nothing to configure — every 127.x.y.z address is local on
 *   Linux — the service simply binds its listener on the address. Used in tests and on a
 *   development machine to show a service moving between nodes of one host.
 */
import { execFile } from 'node:child_process';
import { isIPv4 } from 'node:net';

/** Takes and releases service addresses. */
export interface AddressDriver {
  readonly name: string;
  /** Makes `address` usable by this node (before the service binds to it). */
  acquire(address: string): Promise<void>;
  /** Gives `address` up (after the service stopped listening on it). */
  release(address: string): Promise<void>;
}

/** Thrown when an address cannot be taken or released. */
export class AddressDriverError extends Error {
  readonly code = 'AddressDriverFailed';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AddressDriverError';
  }
}

/** For 127.0.0.0/8 addresses: validates and does nothing else. */
export class LoopbackAddressDriver implements AddressDriver {
  readonly name = 'loopback';

  async acquire(address: string): Promise<void> {
    if (!isIPv4(address) || !address.startsWith('127.')) throw new AddressDriverError(`the loopback driver only serves 127.x.y.z addresses, got "${address}"`);
  }

  async release(): Promise<void> {}
}

/** Runs a command; resolves with stdout. Replaceable in tests. */
export type CommandRunner = (command: string, args: readonly string[]) => Promise<string>;

const runCommand: CommandRunner = (command, args) =>
  new Promise((resolve, reject) => {
    execFile(command, args, { timeout: 10_000 }, (err, stdout, stderr) => {
      if (err) reject(new AddressDriverError(`${command} ${args.join(' ')} failed: ${stderr.trim() || err.message}`, { cause: err }));
      else resolve(stdout);
    });
  });

/** Options of {@link LinuxAddressDriver}. */
export interface LinuxAddressDriverOptions {
  /** Interface to put service addresses on, e.g. `eth0`. */
  interface: string;
  /** Prefix length of the service addresses. Default 32. */
  prefixLength?: number;
  /** Gratuitous ARP announcements sent after taking an address. Default 3; 0 disables. */
  arpCount?: number;
  /** Command runner (tests). */
  run?: CommandRunner;
}

/** Moves IPv4 service addresses between machines of a LAN. */
export class LinuxAddressDriver implements AddressDriver {
  readonly name = 'linux';
  private readonly run: CommandRunner;

  constructor(private readonly options: LinuxAddressDriverOptions) {
    if (!/^[A-Za-z0-9_.:-]{1,15}$/.test(options.interface)) throw new AddressDriverError(`invalid interface name "${options.interface}"`);
    this.run = options.run ?? runCommand;
  }

  async acquire(address: string): Promise<void> {
    this.check(address);
    const cidr = `${address}/${this.options.prefixLength ?? 32}`;
    const existing = await this.run('ip', ['-o', '-4', 'addr', 'show', 'dev', this.options.interface]);
    if (!existing.includes(` ${cidr} `) && !existing.includes(` ${address}/`)) {
      await this.run('ip', ['addr', 'add', cidr, 'dev', this.options.interface]);
    }
    const count = this.options.arpCount ?? 3;
    if (count > 0) await this.run('arping', ['-U', '-c', String(count), '-I', this.options.interface, address]);
  }

  async release(address: string): Promise<void> {
    this.check(address);
    const cidr = `${address}/${this.options.prefixLength ?? 32}`;
    const existing = await this.run('ip', ['-o', '-4', 'addr', 'show', 'dev', this.options.interface]);
    if (existing.includes(` ${address}/`)) await this.run('ip', ['addr', 'del', cidr, 'dev', this.options.interface]);
  }

  private check(address: string): void {
    if (!isIPv4(address)) throw new AddressDriverError(`not an IPv4 address: "${address}"`);
  }
}
