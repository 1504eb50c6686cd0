/**
 * Alerts: conditions under which a node keeps running but is not healthy — disk nearly full
 * (and full: `DiskFull`, raised by the node from its storage reserve), data directory read-only, leaf set empty for too long, plaintext transport, an application that
 * failed. Each alert is raised and cleared once (one log line and one event each), and shown by
 * the ops API, `/health` and the dashboard, so a node never misbehaves silently.
 */
import type { Env, Logger, Timer } from '../env/index.ts';
import type { DataDirProbe } from './data-dir.ts';
import type { EventLog } from './events.ts';

export type AlertSeverity = 'warning' | 'critical';

/** An active alert. */
export interface Alert {
  /** Stable code, e.g. `DiskNearlyFull`; one alert per code (and subject). */
  code: string;
  severity: AlertSeverity;
  message: string;
  /** When it was raised (ms since the epoch). */
  since: number;
  /** What it is about when a code can apply to several things (e.g. an application name). */
  subject?: string;
  data?: Record<string, unknown>;
}

/** The active alerts of one node. */
export class AlertSet {
  private readonly active = new Map<string, Alert>();

  constructor(
    private readonly env: Env,
    private readonly log: Logger,
    private readonly events: EventLog,
  ) {}

  /** Raises (or updates the message of) an alert. Logs and records only when it is new. */
  raise(code: string, severity: AlertSeverity, message: string, options: { subject?: string; data?: Record<string, unknown> } = {}): void {
    const key = options.subject ? `${code}:${options.subject}` : code;
    const existing = this.active.get(key);
    if (existing) {
      existing.message = message;
      existing.severity = severity;
      if (options.data) existing.data = options.data;
      return;
    }
    const alert: Alert = { code, severity, message, since: this.env.now() };
    if (options.subject) alert.subject = options.subject;
    if (options.data) alert.data = options.data;
    this.active.set(key, alert);
    const fields = { event: 'alert.raised', code, severity, subject: options.subject, ...options.data };
    if (severity === 'critical') this.log.error(fields, `ALERT ${code}: ${message}`);
    else this.log.warn(fields, `ALERT ${code}: ${message}`);
    this.events.record('alert.raised', `${code}: ${message}`, { level: severity === 'critical' ? 'error' : 'warn', data: { code, severity, subject: options.subject } });
  }

  /** Clears an alert if it is active. */
  clear(code: string, subject?: string): void {
    const key = subject ? `${code}:${subject}` : code;
    const alert = this.active.get(key);
    if (!alert) return;
    this.active.delete(key);
    this.log.info({ event: 'alert.cleared', code, subject, activeMs: this.env.now() - alert.since }, `alert ${code} cleared`);
    this.events.record('alert.cleared', `${code} cleared`, { data: { code, subject } });
  }

  has(code: string, subject?: string): boolean {
    return this.active.has(subject ? `${code}:${subject}` : code);
  }

  /** Active alerts, most severe first, then oldest first. */
  list(): Alert[] {
    return [...this.active.values()].sort((a, b) => (a.severity === b.severity ? a.since - b.since : a.severity === 'critical' ? -1 : 1));
  }
}

/** Thresholds of the {@link AlertMonitor} (the `alerts.*` settings). */
export interface AlertThresholds {
  checkIntervalMs: number;
  diskMinFreePercent: number;
  diskMinFreeBytes: number;
  leafSetEmptyMs: number;
}

/** What the monitor observes of the node. */
export interface MonitoredNode {
  dataDir: string;
  /** True once the node has joined (an idle or joining node has no leaf set yet). */
  isReady(): boolean;
  leafSetSize(): number;
  /** Reads the free space of the node's storage reserves again (they notice space freed even when no write comes). */
  refreshSpace?(): void;
}

/**
 * Checks the data directory and the leaf set periodically and raises / clears alerts. Checks never
 * overlap; a failing check is itself reported rather than thrown.
 */
export class AlertMonitor {
  private timer: Timer | undefined;
  /** The check running now, if any. */
  private inFlight: Promise<void> | undefined;
  private emptySince: number | undefined;
  /** Latest disk reading, for the ops API. */
  disk: { freeBytes: number; totalBytes: number; checkedAt: number } | undefined;

  constructor(
    private readonly env: Env,
    private readonly alerts: AlertSet,
    private readonly node: MonitoredNode,
    private readonly thresholds: AlertThresholds,
    private readonly probe: DataDirProbe,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = this.env.setInterval(() => void this.check(), this.thresholds.checkIntervalMs);
    void this.check();
  }

  /**
   * Stops the checks; resolves once a check in flight has finished, so that its write probe
   * (a file created and removed in the data directory) is not left running past the node's stop.
   */
  stop(): Promise<void> {
    this.timer?.cancel();
    this.timer = undefined;
    return this.inFlight?.catch(() => undefined) ?? Promise.resolve();
  }

  /** Runs every check once (also called by the interval). */
  check(): Promise<void> {
    if (this.inFlight) return this.inFlight;
    this.inFlight = (async () => {
      try {
        this.checkLeafSet();
        try {
          this.node.refreshSpace?.();
        } catch {
          // a reserve that cannot read its disk keeps its last reading; DiskCheckFailed says why
        }
        await this.checkDisk();
        await this.checkWritable();
      } finally {
        this.inFlight = undefined;
      }
    })();
    return this.inFlight;
  }

  private checkLeafSet(): void {
    const now = this.env.now();
    if (!this.node.isReady() || this.node.leafSetSize() > 0) {
      this.emptySince = undefined;
      this.alerts.clear('LeafSetEmpty');
      return;
    }
    this.emptySince ??= now;
    const empty = now - this.emptySince;
    if (empty >= this.thresholds.leafSetEmptyMs) {
      this.alerts.raise('LeafSetEmpty', 'warning', `the leaf set has been empty for ${Math.round(empty / 1000)} s: this node is alone in its ring or cut off from it`, {
        data: { emptyMs: empty },
      });
    }
  }

  private async checkDisk(): Promise<void> {
    let space;
    try {
      space = await this.probe.diskSpace(this.node.dataDir);
    } catch (err) {
      this.alerts.raise('DiskCheckFailed', 'warning', `cannot read free space of ${this.node.dataDir}: ${(err as Error).message}`);
      return;
    }
    this.alerts.clear('DiskCheckFailed');
    this.disk = { ...space, checkedAt: this.env.now() };
    const percent = space.totalBytes > 0 ? (100 * space.freeBytes) / space.totalBytes : 100;
    const low = space.freeBytes < this.thresholds.diskMinFreeBytes || percent < this.thresholds.diskMinFreePercent;
    if (low) {
      const severity = percent < 1 ? 'critical' : 'warning';
      this.alerts.raise('DiskNearlyFull', severity, `only ${formatBytes(space.freeBytes)} (${percent.toFixed(1)}%) free on the data directory's disk`, {
        data: { freeBytes: space.freeBytes, totalBytes: space.totalBytes },
      });
    } else {
      this.alerts.clear('DiskNearlyFull');
    }
  }

  private async checkWritable(): Promise<void> {
    const error = await this.probe.writeError(this.node.dataDir).catch((err: Error) => err.message);
    // A full disk refuses the probe's file too: that is DiskNearlyFull / DiskFull, not a
    // read-only directory (which would need a restart).
    if (error !== undefined && !/^(ENOSPC|EDQUOT)\b/.test(error)) {
      this.alerts.raise('DataDirReadOnly', 'critical', `the data directory ${this.node.dataDir} does not take writes (${error}): records cannot be stored durably`);
    } else {
      this.alerts.clear('DataDirReadOnly');
    }
  }
}

/** `1.5 GiB` style sizes. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}
