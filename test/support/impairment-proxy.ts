import dgram from 'node:dgram';
import { once } from 'node:events';
import { seededRandom } from './seeded-random.js';

/**
 * A userspace stand-in for netem (which this kernel lacks): a UDP relay between a sender and a
 * receiver that drops, delays and reorders datagrams from a seeded random source, and counts
 * exactly what it did so tests can compare with what the receiver reports.
 */
export interface ImpairmentOptions {
  /** Where datagrams are relayed to. */
  target: { address: string; port: number };
  /** Probability (0..1) that a datagram is dropped. */
  lossRate?: number;
  /** Each datagram is delayed by baseDelayMs plus a uniform random 0..jitterMs. */
  baseDelayMs?: number;
  jitterMs?: number;
  /** Probability that a datagram is held back so the next one overtakes it. */
  reorderRate?: number;
  /** Probability that a datagram is sent twice. */
  duplicateRate?: number;
  seed?: number;
  /** Sees every datagram as it leaves for the target, with performance.now() (a wire tap for benchmarks). */
  onForward?: (datagram: Buffer, at: number) => void;
}

export interface ImpairmentCounts {
  received: number;
  forwarded: number;
  dropped: number;
  reorderedHeld: number;
  duplicated: number;
}


export class ImpairmentProxy {
  readonly counts: ImpairmentCounts = { received: 0, forwarded: 0, dropped: 0, reorderedHeld: 0, duplicated: 0 };
  private readonly random: () => number;
  private readonly timers = new Set<NodeJS.Timeout>();
  private held: Buffer | undefined;
  private closed = false;

  private constructor(
    private readonly socket: dgram.Socket,
    private options: ImpairmentOptions,
  ) {
    this.random = seededRandom(options.seed ?? 1);
    socket.on('message', (datagram) => this.relay(datagram));
  }

  static async start(options: ImpairmentOptions): Promise<ImpairmentProxy> {
    const socket = dgram.createSocket('udp4');
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    return new ImpairmentProxy(socket, options);
  }

  /** Changes the impairment from now on (e.g. a clean tail, so nothing is lost unseen at the end). */
  impair(changes: Omit<ImpairmentOptions, 'target' | 'seed'>): void {
    this.options = { ...this.options, ...changes };
  }

  get port(): number {
    return this.socket.address().port;
  }

  private relay(datagram: Buffer): void {
    if (this.closed) return;
    this.counts.received += 1;
    if (this.random() < (this.options.lossRate ?? 0)) {
      this.counts.dropped += 1;
      return;
    }
    if (this.held === undefined && this.random() < (this.options.reorderRate ?? 0)) {
      // Hold this one back; it goes out right after the next datagram, so the two swap places.
      this.held = datagram;
      this.counts.reorderedHeld += 1;
      return;
    }
    const delay = (this.options.baseDelayMs ?? 0) + this.random() * (this.options.jitterMs ?? 0);
    this.forwardAfter(datagram, delay);
    if (this.held !== undefined) {
      // Right behind the one that overtook it, whatever the jitter, so it really arrives out of order.
      this.forwardAfter(this.held, delay + 1);
      this.held = undefined;
    }
    if (this.random() < (this.options.duplicateRate ?? 0)) {
      this.counts.duplicated += 1;
      this.forwardAfter(datagram, delay + 2);
    }
  }

  private forwardAfter(datagram: Buffer, delay: number): void {
    const send = () => {
      if (this.closed) return;
      this.counts.forwarded += 1;
      this.options.onForward?.(datagram, performance.now());
      this.socket.send(datagram, this.options.target.port, this.options.target.address);
    };
    if (delay <= 0) {
      send();
      return;
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      send();
    }, delay);
    this.timers.add(timer);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }
}
