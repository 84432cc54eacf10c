import test from 'ava';
import { Button, type ButtonOptions } from '../../src/gpio/button.js';
import { FakeInputPort } from '../../src/gpio/ports.js';
import { FakeClock } from '../support/fake-clock.js';

const RELEASED = 1;
const PRESSED = 0;

function setup(options: Partial<ButtonOptions> = {}, initial: 0 | 1 = RELEASED) {
  const clock = new FakeClock();
  const port = new FakeInputPort(initial);
  const button = new Button(port, clock, { name: 'test', debounceMs: 30, longPressMs: 1500, ...options });
  const events: Array<{ at: number; event: string; heldMs?: number }> = [];
  button.on('press', () => events.push({ at: clock.now(), event: 'press' }));
  button.on('release', (heldMs) => events.push({ at: clock.now(), event: 'release', heldMs }));
  button.on('short-press', (heldMs) => events.push({ at: clock.now(), event: 'short-press', heldMs }));
  button.on('long-press', (heldMs) => events.push({ at: clock.now(), event: 'long-press', heldMs }));
  button.start();
  return { clock, port, button, events };
}

test('a press counts once the pin has held low for the debounce time', async (t) => {
  const { clock, port, button, events } = setup();
  port.set(PRESSED);
  await clock.advance(29);
  t.false(button.pressed);
  t.deepEqual(events, []);
  await clock.advance(1);
  t.true(button.pressed);
  t.deepEqual(events, [{ at: 30, event: 'press' }]);
});

test('contact bounce collapses into one press, confirmed 30 ms after the last bounce', async (t) => {
  const { clock, port, events } = setup();
  // Bounces every 4 ms for 20 ms, then stays down.
  for (let i = 0; i < 5; i++) {
    port.set(PRESSED);
    await clock.advance(2);
    port.set(RELEASED);
    await clock.advance(2);
  }
  port.set(PRESSED);
  await clock.advance(500);
  t.deepEqual(
    events.map((event) => event.event),
    ['press'],
  );
  t.is(events[0].at, 20 + 30);
});

test('a spike shorter than the debounce time never registers', async (t) => {
  const { clock, port, button, events } = setup();
  port.set(PRESSED);
  await clock.advance(10);
  port.set(RELEASED);
  await clock.advance(1000);
  t.false(button.pressed);
  t.deepEqual(events, []);
});

test('a single noisy edge (the pin is back before anyone reads it) never registers', async (t) => {
  const { clock, port, button, events } = setup();
  port.spike(PRESSED);
  await clock.advance(1000);
  t.false(button.pressed);
  t.deepEqual(events, []);
  // And a single noisy edge while pressed does not release the button.
  port.set(PRESSED);
  await clock.advance(100);
  port.spike(RELEASED);
  await clock.advance(100);
  t.true(button.pressed);
  t.deepEqual(
    events.map((event) => event.event),
    ['press'],
  );
});

test('a short press reports press, release and short-press with the time held', async (t) => {
  const { clock, port, events } = setup();
  port.set(PRESSED);
  await clock.advance(230);
  port.set(RELEASED);
  await clock.advance(100);
  t.deepEqual(events, [
    { at: 30, event: 'press' },
    { at: 260, event: 'release', heldMs: 230 },
    { at: 260, event: 'short-press', heldMs: 230 },
  ]);
});

test('a long press is reported at the threshold while still held, and its release is not a short press', async (t) => {
  const { clock, port, events } = setup();
  port.set(PRESSED);
  await clock.advance(30 + 1499);
  t.deepEqual(
    events.map((event) => event.event),
    ['press'],
  );
  await clock.advance(1);
  t.deepEqual(events.at(-1), { at: 1530, event: 'long-press', heldMs: 1500 });
  await clock.advance(1000);
  port.set(RELEASED);
  await clock.advance(100);
  t.deepEqual(
    events.map((event) => event.event),
    ['press', 'long-press', 'release'],
  );
  t.is(events.at(-1)?.heldMs, 2530); // confirmed down at 30, confirmed up at 2560
});

test('the long-press threshold is configurable', async (t) => {
  const { clock, port, events } = setup({ longPressMs: 400 });
  port.set(PRESSED);
  await clock.advance(30 + 400);
  t.deepEqual(events.at(-1), { at: 430, event: 'long-press', heldMs: 400 });
});

test('the debounce time is configurable', async (t) => {
  const { clock, port, events } = setup({ debounceMs: 80 });
  port.set(PRESSED);
  await clock.advance(79);
  t.deepEqual(events, []);
  await clock.advance(1);
  t.deepEqual(events, [{ at: 80, event: 'press' }]);
});

test('activeLow false: a button to 3.3 V is pressed when the pin is high', async (t) => {
  const { clock, port, button, events } = setup({ activeLow: false }, 0);
  t.false(button.pressed);
  port.set(1);
  await clock.advance(30);
  t.true(button.pressed);
  port.set(0);
  await clock.advance(30);
  t.deepEqual(
    events.map((event) => event.event),
    ['press', 'release', 'short-press'],
  );
});

test('a button already held at start is not a press, and letting go is not a short press', async (t) => {
  const { clock, port, button, events } = setup({}, PRESSED);
  t.true(button.pressed);
  await clock.advance(100);
  port.set(RELEASED);
  await clock.advance(30);
  t.false(button.pressed);
  t.deepEqual(
    events.map((event) => event.event),
    ['release'],
  );
});

test('after stop() edges are ignored and no timer is left behind', async (t) => {
  const { clock, port, button, events } = setup();
  port.set(PRESSED);
  await clock.advance(30);
  button.stop();
  t.is(clock.pendingTimers, 0);
  port.set(RELEASED);
  await clock.advance(2000);
  t.deepEqual(
    events.map((event) => event.event),
    ['press'],
  );
});

test('a pin that reads "pressed" from start for 2 s is stuck; releasing it clears that, once each', async (t) => {
  const { clock, port, button } = setup({}, PRESSED);
  const stuckEvents: Array<{ at: number; stuck: boolean }> = [];
  button.on('stuck', (stuck) => stuckEvents.push({ at: clock.now(), stuck }));
  await clock.advance(1999);
  t.false(button.stuck);
  await clock.advance(1);
  t.true(button.stuck);
  await clock.advance(10_000);
  t.deepEqual(stuckEvents, [{ at: 2000, stuck: true }], 'said once, not again while it stays down');
  port.set(RELEASED);
  await clock.advance(30);
  t.false(button.stuck);
  t.deepEqual(stuckEvents, [
    { at: 2000, stuck: true },
    { at: 12_030, stuck: false },
  ]);
  // From then on it is an ordinary button: a long hold is a long press, not stuck.
  port.set(PRESSED);
  await clock.advance(5000);
  t.false(button.stuck);
  t.is(stuckEvents.length, 2);
});

test('activeLow false: a pin that reads high from start is the stuck one', async (t) => {
  const high = setup({ activeLow: false }, 1);
  await high.clock.advance(2000);
  t.true(high.button.stuck);
  const low = setup({ activeLow: false }, 0);
  await low.clock.advance(2000);
  t.false(low.button.stuck);
});

test('a button let go before the stuck time never was stuck, and noise while down does not reset the time', async (t) => {
  const early = setup({}, PRESSED);
  const said: boolean[] = [];
  early.button.on('stuck', (stuck) => said.push(stuck));
  await early.clock.advance(1500);
  early.port.set(RELEASED);
  await early.clock.advance(5000);
  t.false(early.button.stuck);
  t.deepEqual(said, []);

  // A spike that is gone before the debounce time ends is not a release.
  const noisy = setup({ stuckAfterMs: 3000 }, PRESSED);
  await noisy.clock.advance(1000);
  noisy.port.spike(RELEASED);
  await noisy.clock.advance(1999);
  t.false(noisy.button.stuck);
  await noisy.clock.advance(1);
  t.true(noisy.button.stuck);
});

test('stop() drops the pending stuck timer; a restart looks at the pin afresh', async (t) => {
  const { clock, port, button } = setup({}, PRESSED);
  await clock.advance(1000);
  button.stop();
  t.is(clock.pendingTimers, 0);
  port.set(RELEASED);
  button.start();
  await clock.advance(5000);
  t.false(button.stuck);
});
