import test from 'ava';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startUnit, api, type TestUnit } from '../support/unit-harness.js';
import { generateSiteSecret, siteSecretPath, storeSiteSecret } from '../../src/security/site-secret.js';
import { calculateGenerator, intermediateSessionKey, loadCpace } from '../../src/security/cpace.js';
import { joinKeys, openSiteSecret, sealSiteSecret } from '../../src/security/site-join-exchange.js';
import { ristretto255 } from '@noble/curves/ed25519.js';
import { confirmKeyOf, guessedIsk, recordedTranscript, searchCodes, type RecordedJoin } from '../support/join-code-search.js';
import { createHmac } from 'node:crypto';

// CPace loads its group arithmetic on first use (a unit's join), not with the module.
test.before(() => loadCpace());

// An attacker on the LAN records a whole pairing (every byte both units send each other) and then
// tries every one of the 10^6 codes offline. The recording is made by a proxy the new unit joins
// through; the search runs over the recording. It must not find the code nor open the secret; the
// same search finds the code at once in a recording made with a key from the code and the
// transcript alone (proof the search works), and even the right code does not open the real one.

async function freshUnit(t: { teardown(fn: () => Promise<void>): void }, name: string): Promise<TestUnit> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), `intercom-rec-${name}-`));
  const secret = generateSiteSecret();
  const unit = await startUnit(name, { dataDir, siteSecret: { secret, source: 'generated', file: await storeSiteSecret(dataDir, secret) } });
  t.teardown(async () => {
    await unit.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  return unit;
}

/** A recording HTTP proxy in front of `target`: every request and answer body of the join exchange. */
async function recordingProxy(t: { teardown(fn: () => Promise<void>): void }, target: TestUnit) {
  const bodies: Record<string, { request: string; answer: string }> = {};
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', async () => {
      const requestBody = Buffer.concat(chunks).toString('utf8');
      const forwarded = await fetch(`${target.baseUrl}${request.url}`, { method: request.method, headers: { 'content-type': request.headers['content-type'] ?? 'application/json' }, body: requestBody || undefined });
      const answer = await forwarded.text();
      bodies[request.url ?? ''] = { request: requestBody, answer };
      response.writeHead(forwarded.status, { 'content-type': 'application/json' }).end(answer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as AddressInfo).port, bodies };
}

test('a recorded pairing and an offline search over all 10^6 codes recover neither the code nor the secret', async (t) => {
  t.timeout(10 * 60_000);
  const inviter = await freshUnit(t, 'Inviter');
  const joiner = await freshUnit(t, 'Joiner');
  const proxy = await recordingProxy(t, inviter);
  const { code } = (await api(inviter, 'POST', '/api/site/invitation')).body as { code: string };
  const joined = await api(joiner, 'POST', '/api/site/join', { code, host: `127.0.0.1:${proxy.port}` });
  t.is(joined.status, 200, JSON.stringify(joined.body));
  const siteSecret = (await readFile(siteSecretPath(inviter.dataDir), 'utf8')).trim();
  t.is((await readFile(siteSecretPath(joiner.dataDir), 'utf8')).trim(), siteSecret, 'the recorded pairing really handed over the secret');

  const recording: RecordedJoin = {
    start: JSON.parse(proxy.bodies['/api/join/start']!.request),
    answer: JSON.parse(proxy.bodies['/api/join/start']!.answer),
    confirm: JSON.parse(proxy.bodies['/api/join/confirm']!.request),
  };
  const wire = JSON.stringify(proxy.bodies);
  t.false(wire.includes(siteSecret), 'the secret never crosses in the clear');
  t.false(wire.includes(code), 'nor does the code');

  // The search's shortcut derivation is the exchange's own (HKDF written out as HMACs).
  const sid = Uint8Array.from(Buffer.from(recording.start.sid, 'base64url'));
  const sample = guessedIsk(sid, recordedTranscript(recording), '000000');
  t.deepEqual(confirmKeyOf(sample, sid), joinKeys(sample, sid).confirm);

  // Control: the same search against a recording sealed under a key from the code and the transcript alone finds it.
  const weakCode = String(Math.floor(Math.random() * 1_000_000)).padStart(6, '0');
  const weakKeys = joinKeys(guessedIsk(sid, recordedTranscript(recording), weakCode), sid);
  const weak: RecordedJoin = {
    ...recording,
    answer: { ...recording.answer, sealed: sealSiteSecret(weakKeys.seal, sid, siteSecret) },
    confirm: { sid: recording.start.sid, confirm: createHmac('sha256', weakKeys.confirm).update(sid).digest('base64url') },
  };
  const around = Number(weakCode);
  t.deepEqual(searchCodes(weak, Math.max(0, around - 500), Math.min(1_000_000, around + 500)), [{ code: weakCode, secret: siteSecret }]);

  // The search over every code, against the real recording.
  const started = performance.now();
  const found = searchCodes(recording);
  const seconds = (performance.now() - started) / 1000;
  t.log(`searched 10^6 codes in ${seconds.toFixed(1)} s (${seconds.toFixed(1)} us per code)`);
  t.deepEqual(found, [], 'no code opens the recorded secret');

  // Even the right code does not open it: every group element the recording and the code give
  // (the generator, both shares, their sum) in K's place fails; K needs an ephemeral scalar.
  const generator = calculateGenerator(new TextEncoder().encode(code), new TextEncoder().encode('pi-intercom site join v1'), sid);
  const ya = ristretto255.Point.fromBytes(Buffer.from(recording.start.share, 'base64url'));
  const yb = ristretto255.Point.fromBytes(Buffer.from(recording.answer.share, 'base64url'));
  for (const k of [generator, ya, yb, ya.add(yb)]) {
    const isk = intermediateSessionKey(sid, k.toBytes(), recordedTranscript(recording));
    t.is(openSiteSecret(joinKeys(isk, sid).seal, sid, recording.answer.sealed), null);
  }
});
