import dgram from 'node:dgram';
import { once } from 'node:events';

export interface DatagramSource {
  address: string;
  port: number;
}

export type DatagramHandler = (datagram: Buffer, from: DatagramSource) => void;

/**
 * One UDP socket for media, both directions. Receive errors are reported, never thrown, so a
 * stranger's traffic cannot take the unit down.
 */
export class UdpTransport {
  private constructor(private readonly socket: dgram.Socket) {}

  static async bind(options: {
    port: number;
    host?: string;
    onDatagram: DatagramHandler;
    onError?: (error: Error) => void;
  }): Promise<UdpTransport> {
    const family = options.host?.includes(':') ? 'udp6' : 'udp4';
    const socket = dgram.createSocket({ type: family, reuseAddr: false });
    socket.on('message', (datagram, remote) => options.onDatagram(datagram, { address: remote.address, port: remote.port }));
    const failedToBind = once(socket, 'error').then(([error]) => {
      throw error;
    });
    socket.bind(options.port, options.host);
    await Promise.race([once(socket, 'listening'), failedToBind]);
    failedToBind.catch(() => undefined);
    socket.on('error', (error) => options.onError?.(error));
    return new UdpTransport(socket);
  }

  get localPort(): number {
    return this.socket.address().port;
  }

  send(datagram: Uint8Array, port: number, address: string): void {
    this.socket.send(datagram, port, address);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }
}
