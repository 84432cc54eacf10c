import dgram from 'node:dgram';
import type { Logger } from '../logging/logger.js';
import type { DatagramSource } from '../net/udp-transport.js';

export interface PageMulticastOptions {
  /** paging.multicastAddress and paging.port. */
  group: string;
  port: number;
  /** The unit's own address (http.host): pages go out and are listened for on its interface; 0.0.0.0: the kernel's choice. */
  interfaceAddress: string;
  onDatagram(datagram: Buffer, from: DatagramSource): void;
  logger: Logger;
}

/**
 * The site's paging multicast group on this unit: a socket that joined the group (every unit of a
 * site listens on the same address and port, hence SO_REUSEADDR) and one that sends to it with a
 * TTL of 1, so pages never leave the LAN segment. Only the page's key opens what arrives here.
 */
export class PageMulticastSocket {
  private constructor(
    private readonly receiver: dgram.Socket,
    private readonly sender: dgram.Socket,
    private readonly options: PageMulticastOptions,
  ) {}

  static async open(options: PageMulticastOptions): Promise<PageMulticastSocket> {
    const specific = options.interfaceAddress !== '0.0.0.0' && options.interfaceAddress !== '::' ? options.interfaceAddress : undefined;
    const receiver = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    const sender = dgram.createSocket({ type: 'udp4' });
    try {
      await new Promise<void>((resolve, reject) => {
        receiver.once('error', reject);
        receiver.bind(options.port, options.group, () => {
          receiver.off('error', reject);
          resolve();
        });
      });
      receiver.addMembership(options.group, specific);
      await new Promise<void>((resolve, reject) => {
        sender.once('error', reject);
        sender.bind(0, specific, () => {
          sender.off('error', reject);
          resolve();
        });
      });
      if (specific) sender.setMulticastInterface(specific);
      sender.setMulticastTTL(1);
    } catch (error) {
      receiver.close();
      sender.close();
      throw error;
    }
    const socket = new PageMulticastSocket(receiver, sender, options);
    receiver.on('message', (datagram, from) => options.onDatagram(datagram, { address: from.address, port: from.port }));
    const onError = (error: Error) => options.logger.warn({ err: error }, 'paging multicast socket error');
    receiver.on('error', onError);
    sender.on('error', onError);
    return socket;
  }

  send(datagram: Buffer): void {
    this.sender.send(datagram, this.options.port, this.options.group);
  }

  close(): void {
    this.receiver.close();
    this.sender.close();
  }
}
