import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { rms, toneShare } from '../support/audio-analysis.js';
import { eventually } from '../support/eventually.js';
import { createVirtualAlsa } from '../support/virtual-alsa.js';

// The original system's users type `intercom send --format seed` and `intercom recv --format seed`,
// nothing more: port 40000, the default sound device, 20 ms frames. Both commands run exactly so,
// as real processes, in a private network namespace of their own (port 40000 is theirs there,
// whatever else runs on this machine), and the receiver's default speaker plays the sender's
// 440 Hz tone.

const CLI = fileURLToPath(new URL('../../src/cli/intercom.ts', import.meta.url));

interface Command {
  child: ChildProcess;
  stdout: string[];
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Runs `intercom <args>` from the source tree inside the network namespace of process `namespacePid`. */
function intercomIn(namespacePid: number, args: string[], env: NodeJS.ProcessEnv): Command {
  const child = spawn('nsenter', [`--net=/proc/${namespacePid}/ns/net`, '--', process.execPath, '--import', 'tsx', CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  let stderr = '';
  createInterface({ input: child.stdout! }).on('line', (line) => stdout.push(line));
  child.stderr!.on('data', (chunk) => {
    stderr += chunk;
  });
  return { child, stdout, stderr: () => stderr, exited: once(child, 'exit').then(([code]) => code as number | null) };
}

/** A process holding a fresh network namespace with its loopback up. */
async function privateNetwork(): Promise<ChildProcess> {
  const holder = spawn('unshare', ['--net', 'sh', '-c', 'ip link set lo up && echo up && exec sleep 600'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const [line] = await Promise.race([once(createInterface({ input: holder.stdout! }), 'line'), once(holder, 'exit').then(() => [null])]);
  if (line !== 'up') throw new Error('unshare --net did not make a network namespace');
  return holder;
}

// Network namespaces need root (CI runs as root, as the README says).
const asRoot = process.getuid?.() === 0;

(asRoot ? test : test.skip)(`\`intercom send --format seed\` reaches \`intercom recv --format seed\`, typed without --frame-ms${asRoot ? '' : ' (skipped: needs root)'}`, async (t) => {
  const holder = await privateNetwork();
  t.teardown(() => holder.kill('SIGKILL'));
  const alsa = await createVirtualAlsa({ mics: ['seed_mic'], speakers: ['seed_spk'] });
  t.teardown(() => alsa.dispose());

  const receiver = intercomIn(holder.pid!, ['recv', '--format', 'seed'], alsa.env);
  t.teardown(() => receiver.child.kill('SIGKILL'));
  await eventually('the receiver to listen', async () => {
    if (receiver.child.exitCode !== null) throw new Error(`intercom recv --format seed exited (${receiver.child.exitCode}): ${receiver.stderr().slice(-2000)}`);
    return receiver.stdout.some((line) => /^listening on UDP port 40000 \(seed\)$/.test(line));
  }, 60_000);
  const speaker = alsa.speaker('seed_spk');
  const heardFrom = speaker.sampleCount;
  const sender = intercomIn(holder.pid!, ['send', '--format', 'seed'], alsa.env);
  t.teardown(() => sender.child.kill('SIGKILL'));

  // One second of the tone has been played on the receiver's default device.
  const received = /^(\d+)s {2}rx (\d+) /;
  await eventually('a second of packets at the receiver', async () => {
    if (sender.child.exitCode !== null) throw new Error(`intercom send --format seed exited (${sender.child.exitCode}): ${sender.stderr().slice(-2000)}`);
    return receiver.stdout.some((line) => Number(received.exec(line)?.[2] ?? 0) >= 50);
  }, 60_000);
  await speaker.waitForSamples(speaker.sampleCount + 48_000, 30_000);
  const heard = speaker.samples().subarray(heardFrom);
  const toneWindows = Array.from({ length: Math.floor(heard.length / 4800) }, (_, index) => heard.subarray(index * 4800, (index + 1) * 4800)).filter(
    (window) => rms(window) > 1000 && toneShare(window, 440) > 0.8,
  ).length;
  t.true(toneWindows >= 8, `the default speaker played the 440 Hz tone in ${toneWindows} 100 ms windows`);

  sender.child.kill('SIGINT');
  receiver.child.kill('SIGINT');
  t.is(await sender.exited, 0, sender.stderr());
  t.is(await receiver.exited, 0, receiver.stderr());
  t.regex(sender.stdout.join('\n'), /^sent \d+ packets \(\d+ bytes\) in \d+\.\d s, seed -> 127\.0\.0\.1:40000$/m);
  t.regex(receiver.stdout.join('\n'), /^lost 0 \(0\.0%\), late \d+, duplicated 0, reordered 0, malformed 0$/m);
  t.notRegex(sender.stderr() + receiver.stderr(), /cannot be used with --frame-ms/);
});
