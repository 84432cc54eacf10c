import test from 'ava';
import { PlayoutClock } from '../../src/media/playout-clock.js';

/** Requests for frames played at `rate` of real time, asked for two at a time (as PortAudio does). */
function pairedRequests(rate: number, frames: number, startMs = 0): { requestedMs: number; playsMs: number }[] {
  const periodMs = 20 / rate;
  return Array.from({ length: frames }, (_, frame) => ({ requestedMs: startMs + Math.floor(frame / 2) * 2 * periodMs, playsMs: startMs + frame * periodMs }));
}

for (const rate of [0.75, 1, 1.1]) {
  test(`a device playing at ${rate}x of real time, asking two frames at a time: playout times keep its pace within 2 ms`, (t) => {
    const clock = new PlayoutClock(20);
    // From requests alone the clock cannot tell where in a burst the device plays (the lead
    // covers that): what it must get right is the pace, a constant offset from the true times.
    const offsets: number[] = [];
    for (const [frame, request] of pairedRequests(rate, 500).entries()) {
      const playoutMs = clock.next(request.requestedMs);
      if (frame >= 250) offsets.push(playoutMs - request.playsMs);
    }
    const spread = Math.max(...offsets) - Math.min(...offsets);
    t.true(spread < 2, `the offset from the true playout times moved by ${spread.toFixed(2)} ms`);
    t.true(Math.abs(clock.msPerMediaMs - 1 / rate) < 0.005, `measured ${clock.msPerMediaMs} ms per ms`);
  });
}

test('a 200 ms stall that a burst catches up does not bend the measured period', (t) => {
  const clock = new PlayoutClock(20);
  const periods: number[] = [];
  for (let frame = 0; frame < 400; frame++) {
    const dueMs = frame * 20;
    // frames 100-109 are asked for only when the stall ends, all at once
    const requestedMs = frame >= 100 && frame < 110 ? 110 * 20 : dueMs;
    clock.next(requestedMs);
    if (frame >= 20) periods.push(clock.msPerMediaMs);
  }
  t.true(Math.max(...periods.map((period) => Math.abs(period - 1))) < 0.01, `measured up to ${Math.max(...periods)} ms per ms`);
});

test('requests of varying length (a device that takes what is decoded, time-scaled frames): the pace of a device at 0.9x is measured right', (t) => {
  const clock = new PlayoutClock(20);
  const rate = 0.9;
  let playedMs = 0;
  for (let request = 0; request < 400; request++) {
    // 15-25 ms of audio per request, asked when the previous one has played.
    const requestMs = 20 + ((request * 7) % 11) - 5;
    clock.next(playedMs / rate, 'later');
    clock.took(requestMs);
    playedMs += requestMs;
  }
  t.true(Math.abs(clock.msPerMediaMs - 1 / rate) < 0.005, `measured ${clock.msPerMediaMs} ms per ms`);
});
