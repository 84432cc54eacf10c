import type { ServerResponse } from 'node:http';
import type { AppDeps, ApiScope } from './app.js';
import type { GpioStatus } from '../gpio/gpio-status.js';
import { SESSION_COOKIE } from '../security/people-access.js';

/** The front panel's GPIO state and its changes (GpioService fits). */
export interface GpioStatusFeed {
  status(): GpioStatus;
  on(event: 'status', listener: (status: GpioStatus) => void): unknown;
  off(event: 'status', listener: (status: GpioStatus) => void): unknown;
}

/**
 * GET /api/events: server-sent events for the panel.
 *   hello  - on connect: { unit, current call, peers, users }
 *   call   - a call changed phase (CallSnapshot)
 *   stats  - about once a second during an active call (CallSnapshot with stats)
 *   peers  - the peer list changed ({ peers })
 *   users  - the site's directory changed ({ users })
 *   gpio   - on connect and whenever a button, the ring LED, the door relay or GPIO's availability
 *            changes (GpioStatus, the same object as status.gpio in GET /api/status)
 *   levels - on connect and whenever the volume, the microphone gain or the mute changes
 *            (the same object as GET /api/audio/levels)
 * The stream ends at the first keep-alive after its login session ended (logout, expiry, new
 * password), so an open panel stops receiving once its person is logged out.
 */
export function registerEventsRoute(app: ApiScope, deps: AppDeps): void {
  const { calls, directory, users, gpio, levels, paging } = deps;
  const open = new Set<ServerResponse>();
  const heartbeatMs = deps.eventsHeartbeatMs ?? 15_000;

  app.addHook('preClose', async () => {
    for (const response of open) response.end();
    open.clear();
  });

  app.get(
    '/api/events',
    {
      schema: {
        tags: ['unit'],
        summary: 'Server-sent events: hello, call, stats (about 1/s in a call), peers, users, gpio, levels, page',
        produces: ['text/event-stream'],
      },
    },
    (request, reply) => {
      reply.hijack();
      const response = reply.raw;
      response.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      // HEAD: the headers are the whole answer (Node would hold them back until the end).
      if (request.method === 'HEAD') {
        response.end();
        return;
      }
      const send = (event: string, data: unknown) => {
        if (!response.writableEnded) response.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      };
      send('hello', { unit: deps.unit, call: calls.current(), peers: directory.peers(), users: directory.entries() });
      if (gpio) send('gpio', gpio.status());
      if (levels) send('levels', levels.status());

      const onCall = (call: unknown) => send('call', call);
      const onStats = (call: unknown) => send('stats', call);
      const onPeers = () => {
        send('peers', { peers: directory.peers() });
        send('users', { users: directory.entries() });
      };
      const onUsers = () => send('users', { users: directory.entries() });
      const onGpio = (status: GpioStatus) => send('gpio', status);
      const onLevels = (status: unknown) => send('levels', status);
      const onPage = (page: unknown) => send('page', page);
      calls.on('call', onCall);
      calls.on('stats', onStats);
      directory.on('changed', onPeers);
      users.on('changed', onUsers);
      gpio?.on('status', onGpio);
      levels?.on('changed', onLevels);
      paging?.on('page', onPage);
      const sessionId = request.cookies[SESSION_COOKIE];
      const heartbeat = setInterval(() => {
        if (response.writableEnded) return;
        void deps.people.describe(sessionId).then(({ session }) => {
          if (!session) response.end();
          else if (!response.writableEnded) response.write(': keep-alive\n\n');
        }, () => response.end());
      }, heartbeatMs);
      heartbeat.unref();
      open.add(response);

      request.raw.on('close', () => {
        clearInterval(heartbeat);
        calls.off('call', onCall);
        calls.off('stats', onStats);
        directory.off('changed', onPeers);
        users.off('changed', onUsers);
        gpio?.off('status', onGpio);
        levels?.off('changed', onLevels);
        paging?.off('page', onPage);
        open.delete(response);
      });
    },
  );
}
