import test from 'ava';
import { DoorRelay } from '../../src/gpio/door-relay.js';
import { Led } from '../../src/gpio/led.js';
import { FakeOutputPort } from '../../src/gpio/ports.js';
import { FakeClock } from '../support/fake-clock.js';

function levelsOver(port: FakeOutputPort, from: number, to: number): Array<[number, number]> {
  return port.writes.filter((write) => write.at >= from && write.at <= to).map((write) => [write.at, write.level]);
}

test('the LED is off, steady, or blinking with the configured period', async (t) => {
  const clock = new FakeClock();
  const port = new FakeOutputPort(clock, 0);
  const led = new Led(port, clock, { blinkPeriodMs: 400 });
  t.is(led.mode, 'off');

  led.set('steady');
  t.is(port.level, 1);
  await clock.advance(1000);
  t.is(port.writes.length, 1, 'steady does not rewrite the pin');

  led.set('blinking');
  const start = clock.now();
  await clock.advance(1000);
  // On at once, then toggles every 200 ms.
  t.deepEqual(levelsOver(port, start, start + 1000), [
    [start, 1],
    [start + 200, 0],
    [start + 400, 1],
    [start + 600, 0],
    [start + 800, 1],
    [start + 1000, 0],
  ]);

  led.set('off');
  t.is(port.level, 0);
  t.is(clock.pendingTimers, 0, 'blinking timer stopped');
});

test('asking for the current mode again does not restart the blink rhythm', async (t) => {
  const clock = new FakeClock();
  const port = new FakeOutputPort(clock, 0);
  const led = new Led(port, clock, { blinkPeriodMs: 1000 });
  led.set('blinking');
  await clock.advance(300);
  led.set('blinking');
  await clock.advance(300);
  t.deepEqual(
    port.writes.map((write) => [write.at, write.level]),
    [
      [0, 1],
      [500, 0],
    ],
  );
});

test('an active-low LED is lit by a low pin', (t) => {
  const clock = new FakeClock();
  const port = new FakeOutputPort(clock, Led.offLevel({ activeLow: true }));
  t.is(port.level, 1);
  const led = new Led(port, clock, { activeLow: true });
  led.set('steady');
  t.is(port.level, 0);
  led.stop();
  t.is(port.level, 1);
});

test('the door relay is energised for exactly the pulse time, and a second request does not stretch it', async (t) => {
  const clock = new FakeClock();
  const port = new FakeOutputPort(clock, DoorRelay.restLevel());
  const changes: boolean[] = [];
  const relay = new DoorRelay(port, clock, { pulseMs: 1000, onChange: (energised) => changes.push(energised) });
  t.true(relay.pulse());
  await clock.advance(600);
  t.false(relay.pulse(), 'already on');
  await clock.advance(399);
  t.true(relay.energised);
  await clock.advance(1);
  t.false(relay.energised);
  t.deepEqual(
    port.writes.map((write) => [write.at, write.level]),
    [
      [0, 1],
      [1000, 0],
    ],
  );
  t.deepEqual(changes, [true, false]);
});

test('an active-low relay module rests high and is pulsed low; stop() releases it at once', async (t) => {
  const clock = new FakeClock();
  const port = new FakeOutputPort(clock, DoorRelay.restLevel({ activeLow: true }));
  t.is(port.level, 1);
  const relay = new DoorRelay(port, clock, { pulseMs: 1000, activeLow: true });
  relay.pulse();
  t.is(port.level, 0);
  await clock.advance(100);
  relay.stop();
  t.is(port.level, 1);
  t.is(clock.pendingTimers, 0);
});
