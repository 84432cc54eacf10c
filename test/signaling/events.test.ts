import test from 'ava';
import { startUnit, connectUnits, api } from '../support/unit-harness.js';
import { loginWithFetch, type SessionHeaders } from '../support/people-session.js';
import { pressButton, releaseButton, startUnitWithGpio } from '../support/gpio-unit.js';

interface ServerEvent {
  event: string;
  data: any;
}

/** Reads server-sent events from a URL, and lets a test wait for the next one matching a predicate. */
async function openEvents(url: string, headers: Partial<SessionHeaders> = {}) {
  const controller = new AbortController();
  const response = await fetch(url, { signal: controller.signal, headers: { ...headers } });
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const received: ServerEvent[] = [];
  let buffer = '';
  let waiter = null as (() => void) | null;
  const closed = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let boundary: number;
        while ((boundary = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, boundary);
          buffer = buffer.slice(boundary + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) received.push({ event, data: JSON.parse(data) });
          waiter?.();
        }
      }
    } catch {
      // aborted
    }
  })();
  let cursor = 0;
  return {
    response,
    received,
    async next(match: (event: ServerEvent) => boolean, timeoutMs = 5000): Promise<ServerEvent> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        while (cursor < received.length) {
          const event = received[cursor++];
          if (match(event)) return event;
        }
        if (Date.now() > deadline) throw new Error(`no matching event; got ${received.map((event) => event.event).join(',')}`);
        await new Promise<void>((resolve) => {
          waiter = resolve;
          setTimeout(resolve, 100);
        });
      }
    },
    /** Resolves when the server ends the stream (or it is aborted). */
    closed,
    close: () => controller.abort(),
  };
}

test('GET /api/events streams hello, users, call changes, live stats about once a second, and peer changes', async (t) => {
  const a = await startUnit('A');
  const b = await startUnit('B');
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  const events = await openEvents(`${a.baseUrl}/api/events`, a.auth);
  t.teardown(events.close);
  t.is(events.response.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  const hello = await events.next((event) => event.event === 'hello');
  t.like(hello.data, { unit: { unitId: a.unit.unitId, name: 'A' }, call: null, peers: [] });

  await api(a, 'POST', '/api/users/register', { name: 'Kitchen' });
  const users = await events.next((event) => event.event === 'users');
  t.deepEqual(users.data.users.map((user: { name: string }) => user.name), ['Kitchen']);

  await api(b, 'POST', '/api/users/register', { name: 'Door' });
  await connectUnits(a, b);
  const peers = await events.next((event) => event.event === 'peers');
  t.like(peers.data.peers[0], { name: 'B', online: true, users: ['Door'] });

  const { body } = await api(a, 'POST', '/api/signal/initiate', { from: 'Kitchen', to: 'Door' });
  t.like((await events.next((event) => event.event === 'call')).data, { id: body.call.id, phase: 'ringing' });
  await api(b, 'POST', '/api/signal/accept', { callId: body.call.id });
  t.like((await events.next((event) => event.event === 'call')).data, { id: body.call.id, phase: 'active' });
  const firstStats = await events.next((event) => event.event === 'stats');
  const secondStats = await events.next((event) => event.event === 'stats');
  t.is(firstStats.data.stats.packetsReceived, 99);
  t.is(secondStats.data.id, body.call.id);

  await api(a, 'POST', '/api/signal/end', { callId: body.call.id });
  t.like((await events.next((event) => event.event === 'call')).data, { id: body.call.id, phase: 'ended', endReason: 'hung-up' });

  await b.app.close();
  const offline = await events.next((event) => event.event === 'peers' && event.data.peers[0]?.online === false);
  t.is(offline.data.peers[0].name, 'B');
});

test('closing the app ends open event streams instead of hanging', async (t) => {
  const unit = await startUnit('Solo');
  const events = await openEvents(`${unit.baseUrl}/api/events`, unit.auth);
  await events.next((event) => event.event === 'hello');
  const started = Date.now();
  await unit.close();
  t.true(Date.now() - started < 2000);
  events.close();
});

test('the event stream needs a session, and ends once its session has ended', async (t) => {
  const unit = await startUnit('Solo', { eventsHeartbeatMs: 100 });
  t.teardown(() => unit.close());
  const refused = await fetch(`${unit.baseUrl}/api/events`);
  t.is(refused.status, 401);
  t.is((await refused.json()).error, 'unauthenticated');

  const session = await loginWithFetch(unit.baseUrl);
  const events = await openEvents(`${unit.baseUrl}/api/events`, session);
  t.teardown(events.close);
  await events.next((event) => event.event === 'hello');
  const logout = await fetch(`${unit.baseUrl}/api/session`, { method: 'DELETE', headers: { ...session } });
  t.is(logout.status, 200);
  await events.closed;
  t.pass('the stream closed after logout');
});

test('front-panel changes reach /api/events at once as `gpio` events carrying what /api/status shows', async (t) => {
  // A real GpioService on fake pins (see test/support/gpio-unit.ts), wired by createUnit() as on a unit.
  const door = await startUnitWithGpio('Door');
  const caller = await startUnit('Kitchen');
  t.teardown(async () => {
    await caller.close();
    await door.close();
  });
  const events = await openEvents(`${door.baseUrl}/api/events`, door.auth);
  t.teardown(events.close);
  const gpioEvent = () => events.next((event) => event.event === 'gpio');
  const statusGpio = async () => (await api(door, 'GET', '/api/status')).body.gpio;

  await events.next((event) => event.event === 'hello');
  const onConnect = await gpioEvent();
  t.like(onConnect.data, { available: true, board: 'Raspberry Pi 4/400/CM4', buttons: { call: false, answer: false }, led: 'off', doorRelay: null });
  t.deepEqual(onConnect.data, await statusGpio());

  await pressButton(door, door.answerButton);
  const pressed = await gpioEvent();
  t.deepEqual(pressed.data.buttons, { call: false, answer: true });
  t.deepEqual(pressed.data, await statusGpio());
  await releaseButton(door, door.answerButton);
  t.deepEqual((await gpioEvent()).data.buttons, { call: false, answer: false });

  // A call ringing in makes the ring LED blink; the stream says so before anyone polls.
  await api(door, 'POST', '/api/users/register', { name: 'Front door' });
  await api(caller, 'POST', '/api/users/register', { name: 'Cook' });
  await connectUnits(caller, door);
  const ringing = await api(caller, 'POST', '/api/signal/initiate', { from: 'Cook', to: 'Front door' });
  t.is(ringing.status, 200);
  const blinking = await events.next((event) => event.event === 'gpio' && event.data.led !== 'off');
  t.is(blinking.data.led, 'blinking');
  t.deepEqual(blinking.data, await statusGpio());
  await api(caller, 'POST', '/api/signal/end', { callId: ringing.body.call.id });
  t.is((await gpioEvent()).data.led, 'off');

  // GPIO going away is a change too.
  await door.gpio.stop();
  t.deepEqual((await gpioEvent()).data, { available: false, enabled: true, reason: 'GPIO has been stopped' });
});
