import test from 'ava';
import { PlaybackLead } from '../../src/audio/playback-lead.js';

const pull = (lead: PlaybackLead, pattern: string) => {
  for (const step of pattern) lead.devicePulled(step === 'x');
};

test('no lead while the service answers in time', (t) => {
  const lead = new PlaybackLead({ deadlineMs: 10 });
  pull(lead, '.'.repeat(1000));
  t.is(lead.frames, 0);
});

test('three separate misses within 5 s add a frame of lead; more runs add more, up to three', (t) => {
  const lead = new PlaybackLead({ deadlineMs: 10 });
  pull(lead, '..x....x....x');
  t.is(lead.frames, 1);
  pull(lead, '.x.x.x');
  t.is(lead.frames, 2);
  pull(lead, 'x.x.x.x.x.x.x.x.x.x.x.x.');
  t.is(lead.frames, 3, 'never more than three frames');
});

test('one long stall is one run of misses: no lead for it', (t) => {
  const lead = new PlaybackLead({ deadlineMs: 10 });
  pull(lead, '....' + 'x'.repeat(10) + '.'.repeat(300) + 'x'.repeat(10) + '....');
  t.is(lead.frames, 0);
});

test('misses spread wider than the window do not add up', (t) => {
  const lead = new PlaybackLead({ deadlineMs: 10, missWindow: 250 });
  pull(lead, ('x' + '.'.repeat(200)).repeat(5));
  t.is(lead.frames, 0);
});

test('quick answers for long enough give the lead back a frame at a time; a slow one restarts the count', (t) => {
  const lead = new PlaybackLead({ deadlineMs: 10, quickAnswersToDrop: 100 });
  pull(lead, 'x.x.x.x.x.x.');
  t.is(lead.frames, 2);
  for (let i = 0; i < 99; i += 1) lead.answered(2);
  lead.answered(7); // not under half the deadline
  for (let i = 0; i < 99; i += 1) lead.answered(2);
  t.is(lead.frames, 2);
  lead.answered(2);
  t.is(lead.frames, 1);
  for (let i = 0; i < 100; i += 1) lead.answered(2);
  t.is(lead.frames, 0);
});
