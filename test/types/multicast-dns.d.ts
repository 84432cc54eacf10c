// The little of multicast-dns (no types of its own) the DNS-SD tests use: listening for responses.
declare module 'multicast-dns' {
  import type { EventEmitter } from 'node:events';

  interface Answer {
    name: string;
    type: string;
    ttl?: number;
    data?: unknown;
  }
  interface Packet {
    answers: Answer[];
  }
  interface Mdns extends EventEmitter {
    on(event: 'response', listener: (response: Packet) => void): this;
    destroy(): void;
  }
  export default function makeMdns(options?: Record<string, unknown>): Mdns;
}
