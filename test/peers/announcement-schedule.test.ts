import test from 'ava';
import { AnnouncementSchedule } from '../../src/discovery/announcement-schedule.js';

function dueTimes(schedule: AnnouncementSchedule, from: number, to: number, known: (now: number) => boolean): number[] {
  const due: number[] = [];
  for (let now = from; now <= to; now += 1000) if (schedule.isDue(now, known(now))) due.push(now);
  return due;
}

test('a unit the site does not know announces at once, then ever less often, up to the longest delay', (t) => {
  const schedule = new AnnouncementSchedule(27_000, 3, 3_600_000);
  t.deepEqual(dueTimes(schedule, 20_000, 4_000_000, () => false), [20_000, 47_000, 128_000, 371_000, 1_100_000, 3_287_000, 6_887_000].filter((at) => at <= 4_000_000));
});

test('a unit the site knows never announces; unknown again, it announces at once and starts the delays over', (t) => {
  const schedule = new AnnouncementSchedule(27_000, 3, 3_600_000);
  t.deepEqual(dueTimes(schedule, 20_000, 600_000, () => true), [], 'known all along: silent');
  t.deepEqual(dueTimes(schedule, 600_000, 800_000, (now) => now < 650_000), [650_000, 677_000, 758_000]);
  t.deepEqual(dueTimes(schedule, 801_000, 900_000, (now) => now < 850_000), [850_000, 877_000], 'known for a while between: the first delay again');
});
