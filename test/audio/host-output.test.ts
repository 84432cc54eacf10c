import test from 'ava';
import { HostOutputFilter } from '../../src/audio/host-output.js';

function collect(options: ConstructorParameters<typeof HostOutputFilter>[1] = {}) {
  const lines: string[] = [];
  const summaries: string[] = [];
  const filter = new HostOutputFilter(
    {
      line: (stream, text) => lines.push(`${stream}: ${text}`),
      summary: (stream, kind, count) => summaries.push(`${stream} ${kind} ${count}`),
    },
    options,
  );
  return { filter, lines, summaries };
}

test('PortAudio start-up noise is summarised, real messages pass, lines are reassembled across chunks', (t) => {
  const { filter, lines, summaries } = collect();
  const noise = Array.from({ length: 88 }, (_, index) => `ALSA lib confmisc.c:855:(parse_card) cannot find card '0' #${index}`).join('\n');
  filter.write('stderr', `${noise}\njack server is not running or cannot be started\n`);
  filter.write('stdout', 'PortAudio V19.6.0-devel, rev');
  filter.write('stdout', 'ision unknown\nInput device name is testmic\n');
  filter.flush();
  t.deepEqual(lines, [
    "stderr: ALSA lib confmisc.c:855:(parse_card) cannot find card '0' #0",
    "stderr: ALSA lib confmisc.c:855:(parse_card) cannot find card '0' #1",
    'stdout: PortAudio V19.6.0-devel, revision unknown',
    'stdout: Input device name is testmic',
  ]);
  t.deepEqual(summaries, ['stderr audio-library 87']);
});

test('other chatter is rate-limited per window and counted', (t) => {
  let now = 0;
  const { filter, lines, summaries } = collect({ maxLinesPerWindow: 3, windowMs: 1_000, now: () => now });
  for (let index = 0; index < 10; index += 1) filter.write('stdout', `AudioIO: portAudio status - output underflow ${index}\n`);
  t.is(lines.length, 3);
  now = 1_500;
  filter.write('stdout', 'next window\n');
  t.deepEqual(summaries, ['stdout rate-limited 7']);
  t.is(lines.at(-1), 'stdout: next window');
});
