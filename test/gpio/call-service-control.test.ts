import { EventEmitter } from 'node:events';
import test from 'ava';
import type { CallServiceEvents, CallSnapshot } from '../../src/calls/call-service.js';
import { callControlFor, panelStateOf, type PanelCallService } from '../../src/gpio/call-service-control.js';
import type { PanelCallState } from '../../src/gpio/call-buttons.js';

function snapshot(direction: CallSnapshot['direction'], phase: CallSnapshot['phase'], id = 'call-1'): CallSnapshot {
  return { id, direction, phase } as CallSnapshot;
}

/** Just enough of CallService: a live call the test sets, and a log of the requests made. */
class ServiceDouble extends EventEmitter<CallServiceEvents> implements PanelCallService {
  live: CallSnapshot | null = null;
  readonly requests: string[] = [];

  current(): CallSnapshot | null {
    return this.live;
  }

  async initiate(from: string, to: string): Promise<CallSnapshot> {
    this.requests.push(`initiate ${from} -> ${to}`);
    return this.change(snapshot('outgoing', 'ringing'));
  }

  async accept(callId: string): Promise<CallSnapshot> {
    this.requests.push(`accept ${callId}`);
    return this.change({ ...this.live!, phase: 'active' });
  }

  end(callId: string): CallSnapshot {
    this.requests.push(`end ${callId}`);
    const ended = { ...this.live!, phase: 'ended' as const };
    this.change(null, ended);
    return ended;
  }

  change(live: CallSnapshot | null, event: CallSnapshot | null = live): CallSnapshot {
    this.live = live;
    this.emit('call', event!);
    return event!;
  }
}

test('panelStateOf maps call snapshots to the panel states', (t) => {
  t.is(panelStateOf(null), 'idle');
  t.is(panelStateOf(snapshot('incoming', 'ringing')), 'ringing-in');
  t.is(panelStateOf(snapshot('outgoing', 'ringing')), 'ringing-out');
  t.is(panelStateOf(snapshot('incoming', 'active')), 'active');
  t.is(panelStateOf(snapshot('outgoing', 'ended')), 'idle');
});

test('initiate calls from the configured local user; without one it fails with a reason', async (t) => {
  const service = new ServiceDouble();
  let caller: string | undefined = 'Lobby';
  const control = callControlFor(service, () => caller);
  await control.initiate('Front door');
  t.deepEqual(service.requests, ['initiate Lobby -> Front door']);
  t.is(control.state(), 'ringing-out');
  caller = undefined;
  service.live = null;
  await t.throwsAsync(control.initiate('Front door'), { message: 'no user is registered on this unit to call from' });
});

test('accept and reject act on the ringing incoming call by its id; hang-up on the active one', async (t) => {
  const service = new ServiceDouble();
  const control = callControlFor(service, () => 'Lobby');
  service.change(snapshot('incoming', 'ringing', 'in-7'));
  await control.accept();
  t.is(control.state(), 'active');
  await control.hangUp();
  t.is(control.state(), 'idle');
  service.change(snapshot('incoming', 'ringing', 'in-8'));
  await control.reject();
  t.deepEqual(service.requests, ['accept in-7', 'end in-7', 'end in-8']);
});

test('requests that do not fit the call state are refused, not sent', async (t) => {
  const service = new ServiceDouble();
  const control = callControlFor(service, () => 'Lobby');
  await t.throwsAsync(control.accept(), { message: 'no ringing-in call (the unit is idle)' });
  await t.throwsAsync(control.hangUp(), { message: 'no active or ringing-out call (the unit is idle)' });
  service.change(snapshot('outgoing', 'ringing'));
  await t.throwsAsync(control.reject(), { message: 'no ringing-in call (the unit is ringing-out)' });
  t.deepEqual(service.requests, []);
});

test('onChange reports each change of panel state once, and stops when asked', (t) => {
  const service = new ServiceDouble();
  const control = callControlFor(service, () => 'Lobby');
  const seen: PanelCallState[] = [];
  const stop = control.onChange((state) => seen.push(state));
  service.change(snapshot('incoming', 'ringing'));
  service.change(snapshot('incoming', 'ringing')); // e.g. a repeated event: no change
  service.change(snapshot('incoming', 'active'));
  service.change(null, snapshot('incoming', 'ended'));
  stop();
  service.change(snapshot('incoming', 'ringing'));
  t.deepEqual(seen, ['ringing-in', 'active', 'idle']);
  t.is(service.listenerCount('call'), 0);
});
