import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SystemdNotifier, formatNotifyMessage, notifySocketPath } from '../../src/system/sd-notify.js';
import { startWatchdog, watchdogTimeoutMs } from '../../src/system/watchdog.js';

interface ReceivingSocket {
  on(event: 'message', listener: (message: Buffer) => void): void;
  bind(path: string): void;
  close(): void;
}

/** A stand-in for systemd's notify socket: a bound unix datagram socket that collects messages. */
function listenLikeSystemd(): { path: string; messages: string[]; next(): Promise<string>; close(): void } {
  const directory = mkdtempSync(join(tmpdir(), 'sd-notify-'));
  const path = join(directory, 'notify');
  const unixDgram = createRequire(import.meta.url)('unix-dgram') as { createSocket(type: 'unix_dgram'): ReceivingSocket };
  const socket = unixDgram.createSocket('unix_dgram');
  const messages: string[] = [];
  const waiting: Array<(message: string) => void> = [];
  socket.on('message', (buffer) => {
    const message = buffer.toString('utf8');
    messages.push(message);
    waiting.shift()?.(message);
  });
  socket.bind(path);
  let read = 0;
  return {
    path,
    messages,
    next: () =>
      new Promise((resolve) => {
        if (read < messages.length) resolve(messages[read++]!);
        else waiting.push((message) => { read++; resolve(message); });
      }),
    close() {
      socket.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

test('READY=1 with status and main pid reaches the notify socket', async (t) => {
  const systemd = listenLikeSystemd();
  t.teardown(() => systemd.close());
  const notifier = new SystemdNotifier({ env: { NOTIFY_SOCKET: systemd.path } });
  t.true(notifier.enabled);
  t.false(notifier.isReady);
  await notifier.ready('listening on 5000');
  t.is(await systemd.next(), `READY=1\nSTATUS=listening on 5000\nMAINPID=${process.pid}`);
  t.true(notifier.isReady);
  await notifier.stopping('ending calls');
  t.is(await systemd.next(), 'STOPPING=1\nSTATUS=ending calls');
});

test('without NOTIFY_SOCKET nothing is sent and nothing fails', async (t) => {
  let sent = 0;
  const notifier = new SystemdNotifier({ env: {}, send: async () => { sent++; } });
  t.false(notifier.enabled);
  await notifier.ready();
  await notifier.watchdog();
  t.is(sent, 0);
  const watchdog = startWatchdog({ env: { WATCHDOG_USEC: '1000000' }, notifier });
  t.is(watchdog.pingIntervalMs, undefined);
  watchdog.stop();
});

test('a socket nobody listens on makes the notification reject', async (t) => {
  const notifier = new SystemdNotifier({ env: { NOTIFY_SOCKET: join(tmpdir(), `no-such-notify-${process.pid}`) } });
  await t.throwsAsync(notifier.ready(), { message: /sd_notify to .* failed/ });
});

test('abstract and vsock addresses are not used; paths are', (t) => {
  t.is(notifySocketPath({ NOTIFY_SOCKET: '@/org/freedesktop/systemd1/notify' }), undefined);
  t.is(notifySocketPath({ NOTIFY_SOCKET: 'vsock:2:1234' }), undefined);
  t.is(notifySocketPath({ NOTIFY_SOCKET: '/run/systemd/notify' }), '/run/systemd/notify');
  t.is(formatNotifyMessage({ STATUS: 'two\nlines' }), 'STATUS=two lines');
});

test('the watchdog interval follows WATCHDOG_USEC and WATCHDOG_PID', (t) => {
  t.is(watchdogTimeoutMs({ WATCHDOG_USEC: '20000000' }, 42), 20000);
  t.is(watchdogTimeoutMs({ WATCHDOG_USEC: '20000000', WATCHDOG_PID: '42' }, 42), 20000);
  t.is(watchdogTimeoutMs({ WATCHDOG_USEC: '20000000', WATCHDOG_PID: '41' }, 42), undefined);
  t.is(watchdogTimeoutMs({}, 42), undefined);
  t.is(watchdogTimeoutMs({ WATCHDOG_USEC: 'soon' }, 42), undefined);
});

test('the watchdog pings from the event loop at half the interval until stopped', async (t) => {
  const systemd = listenLikeSystemd();
  t.teardown(() => systemd.close());
  const env = { NOTIFY_SOCKET: systemd.path, WATCHDOG_USEC: '200000' };
  const started = performance.now();
  const watchdog = startWatchdog({ env, notifier: new SystemdNotifier({ env }) });
  t.is(watchdog.pingIntervalMs, 100);
  for (let ping = 0; ping < 4; ping++) t.is(await systemd.next(), 'WATCHDOG=1');
  // The first ping is immediate, the next three come 100 ms apart.
  t.true(performance.now() - started >= 290);
  watchdog.stop();
  const countAtStop = systemd.messages.length;
  await new Promise((resolve) => setTimeout(resolve, 250));
  t.is(systemd.messages.length, countAtStop);
});
