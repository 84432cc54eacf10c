import dgram from 'node:dgram';
import type { Logger } from '../logging/logger.js';
import { MAX_DATAGRAM_BYTES } from './presence-datagram.js';
import type { PresenceTransport } from './presence-prober.js';

/**
 * The presence prober's UDP socket (IPv4). It binds the port asked for (by default the same number
 * as the HTTP port, over UDP) and, when that is taken, any free port: the port is told to other
 * units in this unit's signed info (UnitInfo.probePort), never guessed.
 */
export class PresenceSocket implements PresenceTransport {
  private socket: dgram.Socket | null = null;
  private handler: ((bytes: Buffer, from: { host: string; port: number }) => void) | null = null;

  constructor(private readonly logger: Logger) {}

  /** Binds `preferredPort` on `host`, or any free port when it is taken; resolves the port bound. */
  async bind(host: string, preferredPort: number): Promise<number> {
    const attempt = (port: number) =>
      new Promise<number>((resolve, reject) => {
        const socket = dgram.createSocket({ type: 'udp4' });
        socket.once('error', (error) => {
          socket.close();
          reject(error);
        });
        socket.bind({ address: host === '::' || host.includes(':') ? '0.0.0.0' : host, port, exclusive: true }, () => {
          socket.removeAllListeners('error');
          // A send to an address that went away is the prober's business (no ack), never a crash.
          socket.on('error', (error) => this.logger.debug({ err: error }, 'presence socket error'));
          socket.on('message', (bytes, rinfo) => {
            if (bytes.length > MAX_DATAGRAM_BYTES) return;
            this.handler?.(bytes, { host: rinfo.address, port: rinfo.port });
          });
          this.socket = socket;
          resolve(socket.address().port);
        });
      });
    try {
      return await attempt(preferredPort);
    } catch (error) {
      if (preferredPort === 0) throw error;
      this.logger.info({ port: preferredPort, err: error }, 'presence: UDP port taken, using a free one (units learn it from this unit\'s info)');
      return attempt(0);
    }
  }

  send(bytes: Buffer, host: string, port: number): void {
    this.socket?.send(bytes, port, host.startsWith('::ffff:') ? host.slice(7) : host);
  }

  onDatagram(handler: (bytes: Buffer, from: { host: string; port: number }) => void): void {
    this.handler = handler;
  }

  close(): Promise<void> {
    const socket = this.socket;
    this.socket = null;
    return new Promise((resolve) => {
      if (!socket) return resolve();
      try {
        socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }
}
