import test from 'ava';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SystemSampler, readThermalZone } from '../../src/system/system-sampler.js';
import { loadOrCreateUnitId } from '../../src/system/unit-identity.js';
import { FakeClock } from '../support/fake-clock.js';

async function tempDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'intercom-system-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function cpu(busy: number, idle: number): os.CpuInfo {
  return { model: 'test', speed: 1, times: { user: busy, nice: 0, sys: 0, idle, irq: 0 } };
}

test('the sampler computes CPU load between samples and refreshes only on its interval', async (t) => {
  const clock = new FakeClock();
  let cpus = [cpu(100, 900), cpu(100, 900)];
  let temperatureReads = 0;
  const sampler = new SystemSampler({
    clock,
    intervalMs: 5000,
    readCpus: () => cpus,
    readTemperature: async () => {
      temperatureReads++;
      return 48.3;
    },
    readMemory: async () => ({ totalBytes: 1000, availableBytes: 250, usedPercent: 75 }),
  });
  await sampler.start();
  t.like(sampler.latest(), { cpuLoadPercent: null, temperatureC: 48.3, memory: { usedPercent: 75 } });
  cpus = [cpu(175, 925), cpu(175, 925)]; // 75 busy of 100 on each core
  for (let i = 0; i < 10; i++) sampler.latest();
  t.is(temperatureReads, 1, 'reading the figures does not sample');
  await clock.advance(5000);
  t.is(sampler.latest().cpuLoadPercent, 75);
  t.is(temperatureReads, 2);
  sampler.stop();
  t.is(clock.pendingTimers, 0);
});

test('temperature comes straight from the thermal zone file (millidegrees)', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'temp');
  await writeFile(file, '51234\n');
  t.is(await readThermalZone(file), 51.2);
  await writeFile(file, 'garbage');
  t.is(await readThermalZone(file), null);
  t.is(await readThermalZone(path.join(dir, 'missing')), null);
});

test('the unit id is made once and kept; a corrupt identity file is kept aside', async (t) => {
  const dir = await tempDir(t);
  const first = await loadOrCreateUnitId(dir);
  t.regex(first, /^[0-9a-f-]{36}$/);
  t.is(await loadOrCreateUnitId(dir), first);
  await writeFile(path.join(dir, 'unit.json'), '{"unitId": 5}');
  const replaced = await loadOrCreateUnitId(dir);
  t.not(replaced, first);
  t.true((await readdir(dir)).some((name) => name.startsWith('unit.json.corrupt-')));
});
