import test from 'ava';
import { OfflinePingSchedule } from '../../src/peers/offline-ping-schedule.js';

test('the delay between unanswered pings to one unit doubles up to the most; an answer starts it over; forgotten units are due at once', (t) => {
  const schedule = new OfflinePingSchedule(1000, 8000);
  const dueTimes: number[] = [];
  for (let now = 0; now <= 40_000; now += 100) {
    if (!schedule.isDue('b', now)) continue;
    dueTimes.push(now);
    schedule.sent('b', now);
    schedule.unanswered('b');
  }
  t.deepEqual(dueTimes.slice(0, 7), [0, 1000, 3000, 7000, 15_000, 23_000, 31_000]);
  t.false(schedule.isDue('b', 31_500), 'not twice within the delay');
  schedule.sent('b', 32_000);
  t.false(schedule.isDue('b', 32_500), 'a ping still waiting for its answer holds the next one back too');
  schedule.answered('b');
  t.true(schedule.isDue('b', 32_500));
  schedule.sent('b', 33_000);
  schedule.unanswered('b');
  t.false(schedule.isDue('b', 33_900));
  t.true(schedule.isDue('b', 34_000), 'the first delay again');
  t.true(schedule.isDue('c', 34_000), 'a unit never pinged is due');
  schedule.keepOnly(new Set(['c']));
  t.true(schedule.isDue('b', 34_100), 'online again (not kept): due at once when it goes again');
});
