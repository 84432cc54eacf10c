import { readFileSync } from 'node:fs';
import type { Server } from 'node:net';
import type { Socket } from 'node:net';
import type { Logger } from '../logging/logger.js';

/**
 * Bounds on the HTTP server's connections, so that one host on the LAN opening thousands of idle
 * connections can neither use up the unit's file descriptors (which the audio hosts, the media
 * socket and the state files need too) nor lock people and other units out:
 *   - at most `perAddress` open connections from one client address; more are closed at once;
 *   - at most `total` in all (Node's server.maxConnections), below the descriptor limit;
 *   - idle ones end by the server's timeouts (no request within the header timeout, or nothing
 *     more within the keep-alive timeout; see buildApp);
 *   - accept() failing for want of descriptors (EMFILE, ENFILE) is logged and survived.
 */

export interface ConnectionLimits {
  total: number;
  perAddress: number;
}

export interface ConnectionCounters {
  open: number;
  /** Connections closed because their address had `perAddress` open already. */
  refusedPerAddress: number;
  /** Connections closed because `total` were open. */
  refusedTotal: number;
  /** accept() failures (out of file descriptors). */
  acceptErrors: number;
  limits: ConnectionLimits;
}

/** The soft limit on open files of this process (/proc/self/limits), or null where unknown. */
export function openFileLimit(limitsText?: string): number | null {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return null;
    }
  }
  const match = /^Max open files\s+(\d+|unlimited)\s/m.exec(text);
  if (!match) return null;
  return match[1] === 'unlimited' ? null : Number(match[1]);
}

/**
 * The limits from the configuration, where `total` 0 means "from the descriptor limit": half of it
 * (the other half stays for everything else the unit opens), between 64 and 4096.
 */
export function connectionLimits(configured: { maxConnections?: number; maxConnectionsPerAddress?: number }, fileLimit = openFileLimit()): ConnectionLimits {
  const automatic = fileLimit === null ? 1024 : Math.min(4096, Math.max(64, Math.floor(fileLimit / 2)));
  const total = configured.maxConnections && configured.maxConnections > 0 ? configured.maxConnections : automatic;
  return { total, perAddress: Math.min(configured.maxConnectionsPerAddress ?? 32, total) };
}

/** IPv4-mapped IPv6 and plain IPv4 are one client. */
function clientAddress(socket: Socket): string {
  return (socket.remoteAddress ?? 'unknown').replace(/^::ffff:(?=[0-9.]+$)/, '');
}

export class ConnectionGuard {
  private readonly perAddress = new Map<string, number>();
  private readonly counts = { open: 0, refusedPerAddress: 0, refusedTotal: 0, acceptErrors: 0 };
  private readonly lastLogged = new Map<string, { at: number; countThen: number }>();

  constructor(
    server: Server,
    readonly limits: ConnectionLimits,
    private readonly logger: Logger,
    private readonly logIntervalMs = 60_000,
  ) {
    server.maxConnections = limits.total;
    server.on('connection', (socket: Socket) => this.admit(socket));
    server.on('drop', () => {
      this.counts.refusedTotal += 1;
      this.report('refusedTotal', this.counts.refusedTotal, { limit: limits.total }, 'refused a connection: the unit has as many open as it allows (http.maxConnections)');
    });
    // Without a listener, an accept() error would be thrown and end the service.
    server.on('error', (error: NodeJS.ErrnoException) => {
      if (error.syscall !== 'accept') return;
      this.counts.acceptErrors += 1;
      this.report('acceptErrors', this.counts.acceptErrors, { code: error.code }, 'could not accept a connection (out of file descriptors?); the unit carries on');
    });
  }

  counters(): ConnectionCounters {
    return { ...this.counts, limits: { ...this.limits } };
  }

  private admit(socket: Socket): void {
    const address = clientAddress(socket);
    const open = this.perAddress.get(address) ?? 0;
    if (open >= this.limits.perAddress) {
      this.counts.refusedPerAddress += 1;
      this.report('refusedPerAddress', this.counts.refusedPerAddress, { address, limit: this.limits.perAddress }, 'refused a connection: its address has as many open as it may (http.maxConnectionsPerAddress)');
      socket.destroy();
      return;
    }
    this.perAddress.set(address, open + 1);
    this.counts.open += 1;
    socket.once('close', () => {
      this.counts.open -= 1;
      const left = (this.perAddress.get(address) ?? 1) - 1;
      if (left <= 0) this.perAddress.delete(address);
      else this.perAddress.set(address, left);
    });
  }

  /** One log line per kind per interval, with the count since the last one: a flood must not flood the journal. */
  private report(kind: string, count: number, details: Record<string, unknown>, message: string): void {
    const now = Date.now();
    const last = this.lastLogged.get(kind);
    if (last && now - last.at < this.logIntervalMs) return;
    this.lastLogged.set(kind, { at: now, countThen: count });
    this.logger.warn({ ...details, sinceLastReport: count - (last?.countThen ?? 0), openConnections: this.counts.open }, message);
  }
}
