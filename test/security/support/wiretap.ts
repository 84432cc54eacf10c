import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { TeardownHost } from '../../support/unit-process.js';

/**
 * A passive eavesdropper on the loopback "LAN": every IPv4 TCP and UDP packet to or from the given
 * ports, as a raw packet socket sees it (test/security/fixtures/sniff-loopback.py; needs root, as
 * the tests run). Nothing is proxied or changed: the units talk to each other directly.
 */

const SNIFFER = fileURLToPath(new URL('../fixtures/sniff-loopback.py', import.meta.url));

export interface CapturedPacket {
  proto: 'tcp' | 'udp';
  src: string;
  sport: number;
  dst: string;
  dport: number;
  seq?: number;
  flags?: number;
  payload: Buffer;
}

export interface Wiretap {
  readonly packets: CapturedPacket[];
  /** Stops recording and returns everything recorded. */
  stop(): Promise<CapturedPacket[]>;
}

export async function startWiretap(t: TeardownHost, ports: number[]): Promise<Wiretap> {
  const child = spawn('python3', [SNIFFER, ...ports.map(String)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const packets: CapturedPacket[] = [];
  let ready!: () => void;
  const started = new Promise<void>((resolve) => (ready = resolve));
  createInterface({ input: child.stdout }).on('line', (line) => {
    const record = JSON.parse(line) as Record<string, unknown>;
    if (record.ready) return ready();
    packets.push({ ...(record as unknown as CapturedPacket), payload: Buffer.from(record.payload as string, 'base64') });
  });
  const exited = once(child, 'exit');
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  await Promise.race([
    started,
    exited.then(() => {
      throw new Error(`the packet capture did not start (it needs root and python3): ${stderr}`);
    }),
  ]);
  return {
    packets,
    async stop() {
      child.stdin.end();
      await exited;
      return packets;
    },
  };
}

/** The bytes each TCP connection carried, one direction per entry, in sequence order (retransmissions once). */
export function tcpStreams(packets: CapturedPacket[]): { from: string; to: string; data: Buffer }[] {
  const flows = new Map<string, Map<number, Buffer>>();
  const firstSeq = new Map<string, number>();
  for (const packet of packets) {
    if (packet.proto !== 'tcp' || packet.payload.length === 0) continue;
    const key = `${packet.src}:${packet.sport}>${packet.dst}:${packet.dport}`;
    if (!flows.has(key)) {
      flows.set(key, new Map());
      firstSeq.set(key, packet.seq!);
    }
    // Offsets relative to the first segment seen, modulo 2^32.
    const offset = (packet.seq! - firstSeq.get(key)! + 2 ** 32) % 2 ** 32;
    flows.get(key)!.set(offset, packet.payload);
  }
  return [...flows].map(([key, segments]) => {
    const [from, to] = key.split('>');
    const ordered = [...segments].sort((a, b) => a[0] - b[0]).map(([, payload]) => payload);
    return { from, to, data: Buffer.concat(ordered) };
  });
}

export interface HttpMessage {
  startLine: string;
  headers: Record<string, string>;
  body: string;
}

/** The HTTP/1.1 messages in one direction of a connection (Content-Length bodies; what units send). */
export function httpMessages(data: Buffer): HttpMessage[] {
  const text = data.toString('latin1');
  const messages: HttpMessage[] = [];
  let at = 0;
  while (at < text.length) {
    const end = text.indexOf('\r\n\r\n', at);
    if (end < 0) break;
    const [startLine, ...lines] = text.slice(at, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    const body = Buffer.from(text.slice(end + 4, end + 4 + length), 'latin1').toString('utf8');
    messages.push({ startLine, headers, body });
    at = end + 4 + length;
  }
  return messages;
}
