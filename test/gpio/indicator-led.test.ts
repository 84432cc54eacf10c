import test from 'ava';
import { IndicatorLed } from '../../src/gpio/indicator-led.js';
import { Led } from '../../src/gpio/led.js';
import { FakeOutputPort } from '../../src/gpio/ports.js';
import { FakeClock } from '../support/fake-clock.js';

// The ring LED with the door panel's feedback flashes laid over the call's mode.

function rig() {
  const clock = new FakeClock();
  const port = new FakeOutputPort(clock, 0);
  const led = new IndicatorLed(new Led(port, clock, { blinkPeriodMs: 1000 }), clock);
  const since = (mark: number) => port.writes.slice(mark).map((write) => `${write.at}:${write.level}`);
  return { clock, port, led, since };
}

test('over a dark LED a pattern plays at once and leaves it dark', async (t) => {
  const { clock, port, led, since } = rig();
  led.flash('refused');
  await clock.advance(2000);
  t.deepEqual(since(0), ['0:1', '80:0', '160:1', '240:0', '320:1', '400:0']);
  t.is(port.level, 0);
  t.false(led.flashing);
});

test('over a lit LED a pattern is framed by dark gaps, and the call mode set meanwhile follows it', async (t) => {
  const { clock, port, led, since } = rig();
  led.set('steady');
  const mark = port.writes.length;
  led.flash('cleared');
  t.is(led.mode, 'steady');
  led.set('blinking');
  t.is(port.level, 0, 'the flash keeps the LED until it is done');
  await clock.advance(150 + 360 + 150);
  t.deepEqual(since(mark), ['0:0', '150:1', '270:0', '390:1', '510:0', '660:1']);
  t.is(led.mode, 'blinking');
  await clock.advance(500);
  t.is(port.level, 0, 'blinking again');
});

test('a new flash cuts the one playing short; stop() ends all and turns the LED off', async (t) => {
  const { clock, port, led } = rig();
  led.flash('refused');
  await clock.advance(100);
  led.flash('key');
  await clock.advance(60);
  t.is(port.level, 0);
  led.set('steady');
  led.stop();
  t.is(port.level, 0);
  t.is(clock.pendingTimers, 0);
});
