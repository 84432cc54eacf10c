import test from 'ava';
import { api, connectUnits, startUnit } from '../support/unit-harness.js';
import { startUnitWithGpio, pressButton, releaseButton } from '../support/gpio-unit.js';
import { eventually } from '../support/eventually.js';

// The PAGE button (gpio.pageButton) against the GPIO test double: held, the unit pages its
// microphone live to the group; every member's unit plays it; let go, it ends on every member.
// Whole units in this process over real HTTP (signed requests, the per-page key exchange); their
// media are doubles, so what is checked here is who plays what and when, not the sound.

const PAGE_PIN = 512 + 17;

test('holding PAGE pages the microphone to the group; letting go ends it on every member', async (t) => {
  const door = await startUnitWithGpio('Door', { gpio: { pageButton: { pin: 17, group: 'Flats', priority: 'emergency' } } });
  const [b, c] = await Promise.all([startUnit('B'), startUnit('C')]);
  t.teardown(async () => {
    await Promise.all([door.close(), b.close(), c.close()]);
  });
  for (const unit of [door, b, c]) t.is((await api(unit, 'POST', '/api/users/register', { name: `User${unit.name}` })).status, 201);
  await connectUnits(door, b, c);
  t.is((await api(door, 'PUT', '/api/groups/Flats', { members: ['UserB', 'UserC'] })).status, 200);

  const button = door.ports.input(PAGE_PIN);
  await pressButton(door, button);
  t.like(door.gpio.status(), { available: true, buttons: { page: true } });
  for (const unit of [b, c]) {
    const playing = await eventually(`${unit.name} to play the page`, async () => unit.unit.paging.status().incoming);
    t.like(playing, { group: 'Flats', priority: 'emergency', origin: 'Door', phase: 'playing' });
  }
  const sending = door.unit.paging.status().outgoing!;
  t.deepEqual(sending.members.map((member) => [member.unitName, member.outcome]), [['B', 'playing'], ['C', 'playing']]);

  await releaseButton(door, button);
  t.is(door.unit.paging.status().outgoing, null, 'the page ends when PAGE is let go');
  t.like(door.unit.paging.status().recent[0], { id: sending.id, endReason: 'ended-by-api' });
  for (const unit of [b, c]) await eventually(`${unit.name} to stop`, async () => unit.unit.paging.status().incoming === null);
  t.like(b.unit.paging.status().recent[0], { id: sending.id, endReason: 'source-ended' });
});

test('PAGE let go before the members are keyed still ends the page', async (t) => {
  const door = await startUnitWithGpio('Door', { gpio: { pageButton: { pin: 17, group: 'Flats' } } });
  const b = await startUnit('B');
  t.teardown(async () => {
    await Promise.all([door.close(), b.close()]);
  });
  for (const unit of [door, b]) await api(unit, 'POST', '/api/users/register', { name: `User${unit.name}` });
  await connectUnits(door, b);
  await api(door, 'PUT', '/api/groups/Flats', { members: ['UserB'] });
  const button = door.ports.input(PAGE_PIN);
  await pressButton(door, button);
  await releaseButton(door, button);
  await eventually('the page to have run and ended', async () => door.unit.paging.status().recent.length === 1 && door.unit.paging.status().outgoing === null);
  await eventually('B to stop', async () => b.unit.paging.status().incoming === null && b.unit.paging.status().recent.length === 1);
  t.pass();
});
