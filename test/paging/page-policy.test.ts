import test from 'ava';
import { CALL_GAIN_UNDER_ANNOUNCEMENT, CALL_GAIN_UNDER_EMERGENCY, callGainDuring, decidePlayout, type UnitPlayoutState } from '../../src/paging/page-policy.js';

const idle: UnitPlayoutState = { call: 'idle', doNotDisturb: false, playing: null, sending: null, canPlay: true };

test('an idle unit plays either priority at full gain', (t) => {
  t.deepEqual(decidePlayout(idle, 'announcement'), { play: true, pageGain: 1, callGain: 1, interrupts: null });
  t.deepEqual(decidePlayout(idle, 'emergency'), { play: true, pageGain: 1, callGain: 1, interrupts: null });
});

test('in a call an announcement plays with the call ducked by 12 dB, an emergency by 20 dB; the call is not ended', (t) => {
  const inCall = { ...idle, call: 'in-call' as const };
  const announcement = decidePlayout(inCall, 'announcement');
  t.like(announcement, { play: true, pageGain: 1 });
  t.true(announcement.play && Math.abs(20 * Math.log10(announcement.callGain) + 12) < 1e-9);
  const emergency = decidePlayout(inCall, 'emergency');
  t.true(emergency.play && emergency.callGain === CALL_GAIN_UNDER_EMERGENCY && CALL_GAIN_UNDER_EMERGENCY < CALL_GAIN_UNDER_ANNOUNCEMENT);
  t.like(decidePlayout({ ...idle, call: 'ringing' }, 'announcement'), { play: true, callGain: 1 });
});

test('do-not-disturb refuses an announcement but never an emergency', (t) => {
  const dnd = { ...idle, doNotDisturb: true };
  t.deepEqual(decidePlayout(dnd, 'announcement'), { play: false, reason: 'do-not-disturb' });
  t.like(decidePlayout(dnd, 'emergency'), { play: true, pageGain: 1 });
  t.like(decidePlayout({ ...dnd, call: 'in-call' }, 'emergency'), { play: true, callGain: CALL_GAIN_UNDER_EMERGENCY });
});

test('an emergency interrupts an announcement; an announcement never interrupts an emergency or another announcement', (t) => {
  const announcing = { ...idle, playing: { pageId: 'page-1', priority: 'announcement' as const } };
  t.like(decidePlayout(announcing, 'emergency'), { play: true, interrupts: 'page-1' });
  t.deepEqual(decidePlayout(announcing, 'announcement'), { play: false, reason: 'page-playing' });
  const emergency = { ...idle, playing: { pageId: 'page-2', priority: 'emergency' as const } };
  t.deepEqual(decidePlayout(emergency, 'announcement'), { play: false, reason: 'page-playing' });
  t.deepEqual(decidePlayout(emergency, 'emergency'), { play: false, reason: 'page-playing' });
});

test('a unit that pages itself plays no page of equal or lower priority, but does play an emergency over its own announcement', (t) => {
  t.deepEqual(decidePlayout({ ...idle, sending: 'announcement' }, 'announcement'), { play: false, reason: 'page-playing' });
  t.deepEqual(decidePlayout({ ...idle, sending: 'emergency' }, 'announcement'), { play: false, reason: 'page-playing' });
  t.like(decidePlayout({ ...idle, sending: 'announcement' }, 'emergency'), { play: true });
});

test('a unit without a speaker refuses every page; a call that starts during a page is ducked for it', (t) => {
  t.deepEqual(decidePlayout({ ...idle, canPlay: false }, 'emergency'), { play: false, reason: 'no-speaker' });
  t.is(callGainDuring(null), 1);
  t.is(callGainDuring('announcement'), CALL_GAIN_UNDER_ANNOUNCEMENT);
  t.is(callGainDuring('emergency'), CALL_GAIN_UNDER_EMERGENCY);
});
