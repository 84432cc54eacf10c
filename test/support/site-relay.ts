import net from 'node:net';
import { rmSync } from 'node:fs';

/**
 * The site test's way into its network: this process runs inside the site's hub namespace (on the
 * bridge, next to every unit) and listens on a unix socket, which, unlike TCP, reaches across
 * network namespaces. Each connection starts with one line "host:port\n"; everything after it is
 * piped both ways to that address. The test speaks plain HTTP through it (netns-site.ts), so the
 * machine's own network namespace never gets a leg on the bridge.
 *
 *   ip netns exec <hub> node --import tsx test/support/site-relay.ts /tmp/.../relay.sock
 */

const socketPath = process.argv[2];
if (!socketPath) {
  process.stderr.write('usage: site-relay.ts <unix socket path>\n');
  process.exit(2);
}
rmSync(socketPath, { force: true });

const MAX_HEADER = 128;

const server = net.createServer((client) => {
  let head = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    head = Buffer.concat([head, chunk]);
    const newline = head.indexOf(10);
    if (newline < 0) {
      if (head.length > MAX_HEADER) client.destroy();
      return;
    }
    client.off('data', onData);
    const target = head.subarray(0, newline).toString('utf8').trim();
    const rest = head.subarray(newline + 1);
    const match = /^([0-9.]+):(\d{1,5})$/.exec(target);
    if (!match) {
      client.destroy();
      return;
    }
    const upstream = net.connect(Number(match[2]), match[1]);
    if (rest.length > 0) upstream.write(rest);
    client.pipe(upstream).pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    upstream.on('error', close);
    client.on('error', close);
    upstream.on('close', close);
    client.on('close', close);
  };
  client.on('data', onData);
  client.on('error', () => client.destroy());
});

server.listen(socketPath, () => {
  process.stdout.write('relay ready\n');
});
process.on('SIGTERM', () => {
  server.close();
  rmSync(socketPath, { force: true });
  process.exit(0);
});
