import type { ExecutionContext } from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { launchSite, type UnitProcess, type UnitProcessOptions } from '../support/unit-process.js';
import type { VirtualAlsa } from '../support/virtual-alsa.js';
import { eventually } from '../support/eventually.js';

export { eventually };


export const currentPhase = async (unit: UnitProcess): Promise<string> => (await unit.api('GET', '/api/calls')).body.current?.phase ?? 'idle';
export const callOn = async (unit: UnitProcess, callId: string) => (await unit.api('GET', `/api/calls/${callId}`)).body.call;

export const USER_A = 'Kitchen';
export const USER_B = 'Front door';

/** Registers one user on each unit and waits until each sees the other's user online. */
export async function registerPair(t: ExecutionContext, a: UnitProcess, b: UnitProcess): Promise<void> {
  t.is((await a.api('POST', '/api/users/register', { name: USER_A })).status, 201);
  t.is((await b.api('POST', '/api/users/register', { name: USER_B })).status, 201);
  await seeEachOther(a, b);
}

export async function seeEachOther(a: UnitProcess, b: UnitProcess, timeoutMs = 15_000): Promise<void> {
  await eventually(
    "each unit to see the other unit's user online",
    async () => {
      const [onA, onB] = await Promise.all([a.api('GET', '/api/users'), b.api('GET', '/api/users')]);
      const sees = (list: { name: string; online: boolean }[], name: string) => list.some((user) => user.name === name && user.online);
      return sees(onA.body.users, USER_B) && sees(onB.body.users, USER_A);
    },
    timeoutMs,
  );
}

/** Two units of one site (each with its own virtual devices when `alsa` is given), users registered. */
export async function twoUnits(
  t: ExecutionContext,
  alsa: VirtualAlsa | null,
  config: Record<string, unknown> = {},
  extra: [Partial<UnitProcessOptions>, Partial<UnitProcessOptions>] = [{}, {}],
): Promise<{ a: UnitProcess; b: UnitProcess }> {
  const audio = (mic: string, speaker: string) => (alsa ? { audio: { ...(config.audio as object | undefined), captureDevice: mic, playbackDevice: speaker } } : {});
  const [a, b] = await launchSite(t, [
    { name: 'A', env: alsa?.env, ...extra[0], config: { ...config, ...audio('mic_a', 'spk_a') } },
    { name: 'B', env: alsa?.env, ...extra[1], config: { ...config, ...audio('mic_b', 'spk_b') } },
  ]);
  await registerPair(t, a, b);
  return { a, b };
}

/** A calls B's user, B answers, both become active; returns the call id. */
export async function establishCall(t: ExecutionContext, a: UnitProcess, b: UnitProcess): Promise<string> {
  const initiated = await a.api('POST', '/api/signal/initiate', { from: USER_A, to: USER_B });
  t.is(initiated.status, 200, JSON.stringify(initiated.body));
  const callId: string = initiated.body.call.id;
  await eventually('B to ring', async () => {
    const ringing = await b.api('GET', `/api/signal/incoming?user=${encodeURIComponent(USER_B)}`);
    return ringing.body.calls.some((call: { id: string }) => call.id === callId);
  });
  t.is((await b.api('POST', '/api/signal/accept', { callId })).status, 200);
  await eventually('both units active', async () => (await currentPhase(a)) === 'active' && (await currentPhase(b)) === 'active');
  return callId;
}

/** Direct children of a process (Linux /proc), e.g. a unit's audio host processes. */
export function childPids(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Field 4 (ppid) follows the command name, which is in parentheses and may contain spaces.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) children.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return children;
}

export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}
