import test from 'ava';
import { fileURLToPath } from 'node:url';
import { intercom, medianOf, runLink } from '../../bench/mouth-to-ear.js';

/**
 * `intercom send` into `intercom recv` through a paced virtual sound card whose microphone clock
 * runs 10% slow or fast (issue 12): the receiver must hold its delay within jitter.maxMs (recv's
 * --max-delay, 400 ms by default) and report the delay the card measures. Measured per sentence
 * (see bench/support/marked-speech.ts): from its chirp's packet leaving for the receiver (the wire
 * tap) to the card playing the chirp; the receiver's reported delay (currentDelayMs, from its
 * status lines while the speech played) is the same span seen from inside. Both are relative to
 * what the card and the wire delivered, so another job's load moves both alike.
 */

const CLI_SOURCE = fileURLToPath(new URL('../../src/cli/intercom.ts', import.meta.url));
const MAX_MS = 400;
const SENTENCES = 5;

for (const micRate of [0.9, 1.1]) {
  test(`a sender whose card runs ${micRate < 1 ? 'slow' : 'fast'} by 10%: the receiver holds its delay within --max-delay and reports it within 20 ms`, async (t) => {
    t.timeout(90_000);
    const result = await runLink(intercom('intercom', [], [], CLI_SOURCE), { label: 'clean' }, { micRate, sentences: SENTENCES });
    const reported = medianOf(result.reportedDelaysMs);
    t.log(
      `mic at ${micRate}x: ${result.found}/${SENTENCES} sentences found; receiver share at the card ${result.receiverPlayedEachMs.map((ms) => ms.toFixed(0)).join(', ')} ms ` +
        `(median ${result.receiverPlayedMs.toFixed(1)}); reported ${result.reportedDelaysMs.map((ms) => ms.toFixed(0)).join(', ')} ms (median ${reported.toFixed(1)}); ` +
        `receiver ${JSON.stringify({ underruns: result.receiver?.underruns, concealedMs: result.receiver?.concealedMs, timeScaledMs: result.receiver?.timeScaledMs, driftPpm: result.receiver?.driftPpm, packetsDiscarded: result.receiver?.packetsDiscarded })}`,
    );
    t.true(result.found >= SENTENCES - 1, `only ${result.found} of ${SENTENCES} sentences were found at the speaker`);
    t.true(Math.max(...result.receiverPlayedEachMs) <= MAX_MS, `the receiver's delay reached ${Math.max(...result.receiverPlayedEachMs).toFixed(0)} ms`);
    t.true(result.reportedDelaysMs.length >= 5);
    t.true(Math.max(...result.reportedDelaysMs) <= MAX_MS);
    t.true(Math.abs(reported - result.receiverPlayedMs) <= 20, `reported ${reported.toFixed(1)} ms, measured at the card ${result.receiverPlayedMs.toFixed(1)} ms`);
  });
}
