import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import dgram from 'node:dgram';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { TeardownHost } from '../../support/unit-process.js';

/**
 * A host on the LAN that makes itself the man in the middle between two units: it listens at an
 * address of its own and relays what arrives there to a unit, a little later than the unit itself
 * would answer (so that, where the last answer wins, its own address wins). It rewrites the Host
 * header to the unit's own address, the best a relay can do against a unit that checks it. Once it
 * has seen a hang-up go through (`swallowAfterEnd`), it drops every call request (the end itself,
 * later probes) while still relaying the discovery polls, which keep the unit looking alive.
 * For media, `relayUdp` forwards datagrams sent to the relay's address to the unit, from the
 * address at which the relay poses as the other unit, and counts them.
 */

export interface HttpRelay {
  /** host:port of the relay, the form the `peers` config takes. */
  readonly address: string;
  /** Requests it relayed, and ones it swallowed. */
  readonly relayed: string[];
  readonly swallowed: string[];
}

export interface RelayOptions {
  /** The relay's own address (a loopback address other than the units'). */
  host: string;
  port: number;
  /** Where the unit really is. */
  target: { host: string; port: number };
  /** The address the relay's requests to the unit come from (where it poses as the other unit). */
  fromHost: string;
  delayMs?: number;
  swallowAfterEnd?: boolean;
}

export async function startHttpRelay(t: TeardownHost, options: RelayOptions): Promise<HttpRelay> {
  const relayed: string[] = [];
  const swallowed: string[] = [];
  let endSeen = false;
  const server = createServer((incoming: IncomingMessage, outgoing: ServerResponse) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const line = `${incoming.method} ${incoming.url}`;
      const isEnd = incoming.method === 'POST' && /\/api\/unit\/calls\/[^/]+\/end$/.test(incoming.url ?? '');
      if (options.swallowAfterEnd && (isEnd || (endSeen && incoming.url?.startsWith('/api/unit/calls')))) {
        endSeen = true;
        swallowed.push(line);
        // Never answered: the sender waits for its timeout.
        return;
      }
      setTimeout(() => {
        const forward = httpRequest(
          {
            host: options.target.host,
            port: options.target.port,
            localAddress: options.fromHost,
            method: incoming.method,
            path: incoming.url,
            headers: { ...incoming.headers, host: `${options.target.host}:${options.target.port}` },
          },
          (answer) => {
            const body: Buffer[] = [];
            answer.on('data', (chunk: Buffer) => body.push(chunk));
            answer.on('end', () => {
              relayed.push(`${line} -> ${answer.statusCode}`);
              outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
              outgoing.end(Buffer.concat(body));
            });
          },
        );
        forward.on('error', () => outgoing.destroy());
        forward.end(Buffer.concat(chunks));
      }, options.delayMs ?? 100);
    });
  });
  server.listen(options.port, options.host);
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const { port } = server.address() as AddressInfo;
  return { address: `${options.host}:${port}`, relayed, swallowed };
}

export interface UdpRelay {
  /** Arrival times (Date.now()) of the datagrams that reached the relay. */
  readonly arrivals: number[];
}

/** Forwards datagrams sent to `host:port` on to the unit at `target`, from `fromHost`. */
export async function relayUdp(t: TeardownHost, options: { host: string; port: number; target: { host: string; port: number }; fromHost: string }): Promise<UdpRelay> {
  const arrivals: number[] = [];
  const inbound = dgram.createSocket('udp4');
  const outbound = dgram.createSocket('udp4');
  outbound.bind(0, options.fromHost);
  inbound.bind(options.port, options.host);
  await Promise.all([once(inbound, 'listening'), once(outbound, 'listening')]);
  inbound.on('message', (datagram) => {
    arrivals.push(Date.now());
    outbound.send(datagram, options.target.port, options.target.host);
  });
  t.teardown(() => {
    inbound.close();
    outbound.close();
  });
  return { arrivals };
}
