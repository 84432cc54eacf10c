import { existsSync } from 'node:fs';
import test from 'ava';
import { launchSite, type UnitProcess } from '../support/unit-process.js';

// Real unit processes (src/main.ts, as systemd runs it) on a machine without sysfs GPIO, with
// gpio.enabled true: the unit says why its buttons are off and goes on taking calls.

const MISSING_REASON = 'sysfs GPIO is missing: /sys/class/gpio does not exist (this kernel has no GPIO, or was built without CONFIG_GPIO_SYSFS)';

/** The data of the first `event` on the unit's /api/events stream. */
async function firstEvent(unit: UnitProcess, event: string, timeoutMs = 10_000): Promise<unknown> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const response = await fetch(`${unit.baseUrl}/api/events`, { headers: { ...(await unit.login()) }, signal: controller.signal });
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      for (const block of buffer.split('\n\n').slice(0, -1)) {
        if (/^event: (.*)$/m.exec(block)?.[1] === event) return JSON.parse(/^data: (.*)$/m.exec(block)![1]);
      }
    }
    throw new Error(`the stream ended without a ${event} event`);
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}

const withoutGpio = existsSync('/sys/class/gpio') ? test.skip : test;

withoutGpio('with gpio.enabled but no sysfs GPIO, a unit reports GPIO unavailable with the reason, and still places and takes calls', async (t) => {
  const [a, b] = await launchSite(t, [
    { name: 'A', config: { gpio: { enabled: true } } },
    { name: 'B', config: { gpio: { enabled: true } } },
  ]);
  for (const unit of [a, b]) {
    const status = await unit.api('GET', '/api/status');
    t.is(status.status, 200);
    t.deepEqual(status.body.gpio, { available: false, enabled: true, reason: MISSING_REASON }, `${unit.name}: /api/status`);
    const warning = await unit.waitForLog((line) => typeof line.msg === 'string' && line.msg.startsWith('GPIO unavailable: '));
    t.is(warning.level, 40);
    t.like(await unit.waitForLog((line) => line.msg === 'intercom ready'), { gpio: false });
  }
  t.deepEqual(await firstEvent(b, 'gpio'), { available: false, enabled: true, reason: MISSING_REASON }, 'the panel\'s event stream says the same');

  t.is((await a.api('POST', '/api/users/register', { name: 'Kitchen' })).status, 201);
  t.is((await b.api('POST', '/api/users/register', { name: 'Front door' })).status, 201);
  // The units poll each other as static peers; B's user becomes callable from A once A has seen it.
  const deadline = Date.now() + 15_000;
  while (!(await a.api('GET', '/api/users')).body.users.some((user: { name: string; online: boolean }) => user.name === 'Front door' && user.online)) {
    if (Date.now() > deadline) throw new Error('A never saw B\'s user');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const initiated = await a.api('POST', '/api/signal/initiate', { from: 'Kitchen', to: 'Front door' });
  t.is(initiated.status, 200);
  const callId: string = initiated.body.call.id;
  const incoming = await b.api('GET', '/api/signal/incoming?user=Front%20door');
  t.deepEqual(incoming.body.calls.map((call: { id: string }) => call.id), [callId]);
  const accepted = await b.api('POST', '/api/signal/accept', { callId });
  t.is(accepted.status, 200);
  t.is(accepted.body.call.phase, 'active');
  const activeOnA = await waitForPhase(a, callId, 'active');
  t.is(activeOnA.phase, 'active');

  const ended = await b.api('POST', '/api/signal/end', { callId });
  t.like(ended.body.call, { phase: 'ended', endReason: 'hung-up' });
  const endedOnA = await waitForPhase(a, callId, 'ended');
  t.is(endedOnA.endReason, 'hung-up');
});

/** Polls the unit's /api/calls until call `callId` is in `phase` (the unit's own account of it). */
async function waitForPhase(unit: UnitProcess, callId: string, phase: string, timeoutMs = 10_000): Promise<{ phase: string; endReason?: string }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await unit.api('GET', '/api/calls');
    const call = [body.current, ...body.calls].find((candidate: { id: string } | null) => candidate?.id === callId);
    if (call?.phase === phase) return call;
    if (Date.now() > deadline) throw new Error(`${unit.name}: call ${callId} not ${phase} within ${timeoutMs} ms: ${JSON.stringify(body)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
