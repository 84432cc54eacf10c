import os from 'node:os';
import { readFileSync } from 'node:fs';
import { runCpuPerCall } from './cpu-per-call.js';
import { runJitterQualityBench } from './jitter-quality.js';
import { runIdleCpuBench } from './idle-cpu.js';
import { runEchoProcessingBench } from './echo-processing.js';
import { runProcessingArm64Bench } from './processing-arm64.js';

/**
 * `npm run bench`: every benchmark, each against its baseline in the same run, printed as
 * Markdown ready for docs/PERFORMANCE.md. Exits non-zero when a target is missed.
 */
const machine = `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, Node ${process.version}, ${os.platform()} ${os.arch()}`;
console.log(`# pi-intercom benchmarks\n\n${new Date().toISOString()} on ${machine}\n`);

let failed = false;
const shippedComplexity = (JSON.parse(readFileSync(new URL('../config/default.json', import.meta.url), 'utf8')) as { audio: { complexity: number } }).audio.complexity;

console.log('## CPU per call (60 s of audio, full duplex)\n');
console.log('One unit in a call encodes, packetises and sends its microphone, and receives, buffers and');
console.log('decodes the peer: both directions. The benchmark runs both ends of the call in one process and');
console.log(`halves the total for one unit. Opus at the shipped complexity (${shippedComplexity}) and, for comparison, libopus's default (10).\n`);
console.log('| format | CPU s, both ends | one unit: share of one core | target |');
console.log('|---|---|---|---|');
const cases = [
  { label: 'seed (original design, no codec)', format: 'seed', opus: {} },
  { label: 'rtp-l16', format: 'rtp-l16', opus: {} },
  { label: `rtp-opus, complexity ${shippedComplexity}`, format: 'rtp-opus', opus: { complexity: shippedComplexity } },
  { label: `rtp-opus + SRTP, complexity ${shippedComplexity} (shipped)`, format: 'rtp-opus', opus: { complexity: shippedComplexity }, srtp: true, judged: true },
  { label: 'rtp-opus, complexity 10', format: 'rtp-opus', opus: { complexity: 10 } },
] as const;
for (const entry of cases) {
  const result = await runCpuPerCall(entry.format, 60, entry.opus, 'srtp' in entry && entry.srtp);
  const percentPerUnit = (result.coreFraction / 2) * 100;
  const judged = 'judged' in entry && entry.judged;
  const missed = judged && percentPerUnit >= 1;
  failed ||= missed;
  console.log(`| ${entry.label} | ${result.cpuSeconds.toFixed(3)} | ${percentPerUnit.toFixed(2)}% | ${judged ? `< 1%${missed ? ' MISSED' : ' met'}` : 'comparison'} |`);
}
console.log('');

console.log('## A unit between calls (20 s each, real audio hosts on virtual ALSA devices)\n');
console.log('The devices stay open for the life of the service. Before: the hosts relayed every frame');
console.log('to the service, which dropped it or answered silence. Shipped: the hosts drop and play');
console.log('silence themselves between calls. Same streams, same run.\n');
console.log('| between calls | both audio hosts: share of one core | service woken for audio, per second |');
console.log('|---|---|---|');
for (const result of await runIdleCpuBench(20)) {
  console.log(`| ${result.label} | ${result.hostCpuPercent.toFixed(2)}% | ${result.serviceWakeupsPerSecond.toFixed(1)} |`);
}
console.log('');

const jitterOk = await runJitterQualityBench();
failed ||= !jitterOk;

failed ||= !(await runEchoProcessingBench());

// For information only (no target): skipped when no arm64 build is at hand.
await runProcessingArm64Bench();

process.exitCode = failed ? 1 : 0;
