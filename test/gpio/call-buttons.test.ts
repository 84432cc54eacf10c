import test from 'ava';
import { Button } from '../../src/gpio/button.js';
import { CallButtons, decideAction, ledModeFor, type ButtonGesture, type PanelAction, type PanelButton, type PanelCallState } from '../../src/gpio/call-buttons.js';
import { Led } from '../../src/gpio/led.js';
import { FakeInputPort, FakeOutputPort } from '../../src/gpio/ports.js';
import { FakeClock } from '../support/fake-clock.js';
import { captureLogger, FakeCallControl } from '../support/fake-gpio.js';

const DOWN = 0;
const UP = 1;

test('decideAction: what every gesture does in every call state', (t) => {
  const expected: Record<PanelCallState, Record<`${PanelButton} ${ButtonGesture}`, PanelAction>> = {
    idle: {
      'call press': 'initiate', 'call short-press': 'none', 'call long-press': 'none',
      'answer press': 'none', 'answer short-press': 'none', 'answer long-press': 'none',
    },
    'ringing-in': {
      'call press': 'none', 'call short-press': 'none', 'call long-press': 'none',
      'answer press': 'none', 'answer short-press': 'accept', 'answer long-press': 'reject',
    },
    'ringing-out': {
      'call press': 'none', 'call short-press': 'none', 'call long-press': 'none',
      'answer press': 'hang-up', 'answer short-press': 'none', 'answer long-press': 'none',
    },
    active: {
      'call press': 'hang-up', 'call short-press': 'none', 'call long-press': 'none',
      'answer press': 'hang-up', 'answer short-press': 'none', 'answer long-press': 'none',
    },
  };
  for (const [state, row] of Object.entries(expected) as Array<[PanelCallState, Record<string, PanelAction>]>) {
    for (const [key, action] of Object.entries(row)) {
      const [button, gesture] = key.split(' ') as [PanelButton, ButtonGesture];
      t.is(decideAction(state, button, gesture), action, `${state} + ${key}`);
    }
  }
});

test('decideAction with a microphone mute: in a call ANSWER hangs up when let go, and held mutes; nothing else changes', (t) => {
  t.is(decideAction('active', 'answer', 'press', true), 'none');
  t.is(decideAction('active', 'answer', 'short-press', true), 'hang-up');
  t.is(decideAction('active', 'answer', 'long-press', true), 'toggle-mute');
  t.is(decideAction('active', 'call', 'press', true), 'hang-up');
  for (const state of ['idle', 'ringing-in', 'ringing-out'] as const) {
    for (const button of ['call', 'answer'] as const) {
      for (const gesture of ['press', 'short-press', 'long-press'] as const) {
        t.is(decideAction(state, button, gesture, true), decideAction(state, button, gesture), `${state} + ${button} ${gesture}`);
      }
    }
  }
});

test('ledModeFor: blinking while ringing either way, steady in a call (muted: its own mode), off when idle', (t) => {
  t.is(ledModeFor('idle'), 'off');
  t.is(ledModeFor('ringing-in'), 'blinking');
  t.is(ledModeFor('ringing-out'), 'blinking');
  t.is(ledModeFor('active'), 'steady');
  t.is(ledModeFor('active', true), 'muted');
  t.is(ledModeFor('ringing-in', true), 'blinking', 'a mute shows only in a call');
  t.is(ledModeFor('idle', true), 'off');
});

function panel() {
  const clock = new FakeClock();
  const calls = new FakeCallControl();
  const { logger, lines } = captureLogger();
  const callPin = new FakeInputPort(UP);
  const answerPin = new FakeInputPort(UP);
  const ledPin = new FakeOutputPort(clock, 0);
  const options = { debounceMs: 30, longPressMs: 1500 };
  const callButton = new Button(callPin, clock, { ...options, name: 'call' });
  const answerButton = new Button(answerPin, clock, { ...options, name: 'answer' });
  const led = new Led(ledPin, clock, { blinkPeriodMs: 1000 });
  const buttons = new CallButtons({ calls, callButton, answerButton, led, callTarget: 'Front door', logger });
  callButton.start();
  answerButton.start();
  buttons.start();
  /** Presses and releases a pin, holding it `heldMs`. */
  const click = async (pin: FakeInputPort, heldMs = 150) => {
    pin.set(DOWN);
    await clock.advance(heldMs);
    pin.set(UP);
    await clock.advance(100);
  };
  return { clock, calls, lines, callPin, answerPin, led, ledPin, buttons, click };
}

test('idle + CALL rings the configured callee; the LED blinks, goes steady when answered, off after CALL hangs up', async (t) => {
  const { calls, led, callPin, click } = panel();
  t.is(led.mode, 'off');
  await click(callPin);
  t.deepEqual(calls.requests, ['initiate Front door']);
  t.is(calls.current, 'ringing-out');
  t.is(led.mode, 'blinking');

  calls.remoteAnswers();
  t.is(led.mode, 'steady');

  await click(callPin);
  t.deepEqual(calls.requests, ['initiate Front door', 'hang-up']);
  t.is(calls.current, 'idle');
  t.is(led.mode, 'off');
});

test('CALL acts the moment it goes down, before it is released', async (t) => {
  const { clock, calls, callPin } = panel();
  callPin.set(DOWN);
  await clock.advance(30);
  t.deepEqual(calls.requests, ['initiate Front door']);
});

test('ringing-in + a short ANSWER accepts; active + ANSWER hangs up', async (t) => {
  const { calls, led, answerPin, click } = panel();
  calls.remoteCalls();
  t.is(led.mode, 'blinking');
  await click(answerPin, 200);
  t.deepEqual(calls.requests, ['accept']);
  t.is(led.mode, 'steady');

  await click(answerPin, 200);
  t.deepEqual(calls.requests, ['accept', 'hang-up'], 'the hang-up press does not also act on release');
  t.is(led.mode, 'off');
});

test('ringing-in + holding ANSWER rejects at the long-press threshold, and letting go does nothing more', async (t) => {
  const { clock, calls, led, answerPin } = panel();
  calls.remoteCalls();
  answerPin.set(DOWN);
  await clock.advance(30 + 1499);
  t.deepEqual(calls.requests, [], 'nothing yet: it might still be a short press');
  await clock.advance(1);
  t.deepEqual(calls.requests, ['reject']);
  t.is(calls.current, 'idle');
  t.is(led.mode, 'off');
  answerPin.set(UP);
  await clock.advance(100);
  t.deepEqual(calls.requests, ['reject']);
});

test('ringing-out: ANSWER cancels our call, a second CALL does not', async (t) => {
  const { calls, callPin, answerPin, click, led } = panel();
  await click(callPin);
  await click(callPin);
  t.deepEqual(calls.requests, ['initiate Front door']);
  t.is(calls.current, 'ringing-out');
  await click(answerPin);
  t.deepEqual(calls.requests, ['initiate Front door', 'hang-up']);
  t.is(led.mode, 'off');
});

test('ringing-in: CALL does nothing', async (t) => {
  const { calls, callPin, click, led } = panel();
  calls.remoteCalls();
  await click(callPin);
  t.deepEqual(calls.requests, []);
  t.is(calls.current, 'ringing-in');
  t.is(led.mode, 'blinking');
});

test('idle: ANSWER does nothing, short or long', async (t) => {
  const { calls, answerPin, click } = panel();
  await click(answerPin, 100);
  await click(answerPin, 2000);
  t.deepEqual(calls.requests, []);
});

test('the LED follows calls placed or ended elsewhere (panel, API, the other unit)', async (t) => {
  const { clock, calls, led, ledPin } = panel();
  calls.remoteCalls();
  await clock.advance(1000);
  // Blinks: on at 0, off at 500, on at 1000.
  t.deepEqual(
    ledPin.writes.map((write) => write.level),
    [1, 0, 1],
  );
  calls.remoteAnswers();
  t.is(led.mode, 'steady');
  calls.remoteHangsUp();
  t.is(led.mode, 'off');
  t.is(ledPin.level, 0);
});

test('a noisy spike on CALL does not ring anyone', async (t) => {
  const { clock, calls, callPin } = panel();
  callPin.spike(DOWN);
  await clock.advance(5);
  callPin.spike(UP);
  await clock.advance(1000);
  t.deepEqual(calls.requests, []);
});

test('every gesture and its effect is logged; a failed request is logged as a warning, not thrown', async (t) => {
  const { calls, lines, callPin, click } = panel();
  calls.failNext = 'no user "Front door" in the site';
  await click(callPin);
  const messages = lines.map((line) => line.msg);
  t.true(messages.includes('CALL pressed while idle: call Front door'), messages.join('\n'));
  t.true(messages.includes('CALL released after 150 ms while idle: no effect'), messages.join('\n'));
  const warning = lines.find((line) => line.level === 40);
  t.is(warning?.msg, 'CALL could not call Front door: no user "Front door" in the site');
  t.is(calls.current, 'idle');
  const pressLine = lines.find((line) => line.msg.startsWith('CALL pressed'));
  t.like(pressLine, { button: 'call', gesture: 'press', callState: 'idle', action: 'initiate' });
});

test('stop() detaches from the buttons and the call service', async (t) => {
  const { calls, buttons, callPin, click } = panel();
  t.is(calls.listenerCount, 1);
  buttons.stop();
  t.is(calls.listenerCount, 0);
  await click(callPin);
  t.deepEqual(calls.requests, []);
});
