import net from 'node:net';
import { once } from 'node:events';
import type { TeardownHost } from '../../support/unit-process.js';

/**
 * A TCP relay on loopback that can go silent like a dropped network (a Wi-Fi gone, a cable
 * pulled): while frozen, bytes in either direction are discarded and nothing is closed, so
 * neither end learns of it except by its own timeouts. New connections are accepted and go
 * silent too. Thawed, it relays again.
 */
export class FreezableTcpProxy {
  private frozen = false;
  private readonly sockets = new Set<net.Socket>();
  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(t: TeardownHost, target: { host: string; port: number }): Promise<FreezableTcpProxy> {
    const server = net.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const proxy = new FreezableTcpProxy(server, (server.address() as net.AddressInfo).port);
    server.on('connection', (client) => proxy.relay(client, target));
    t.teardown(() => proxy.close());
    return proxy;
  }

  freeze(): void {
    this.frozen = true;
  }

  thaw(): void {
    this.frozen = false;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private relay(client: net.Socket, target: { host: string; port: number }): void {
    const upstream = net.connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        this.sockets.delete(socket);
        (socket === client ? upstream : client).destroy();
      });
    }
    client.on('data', (chunk) => {
      if (!this.frozen) upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (!this.frozen) client.write(chunk);
    });
  }
}
