import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../support/cli.js';
import { lineWhere, textLines } from './cli-events.js';

// What a person sees without --json: `intercom send` and `intercom recv` print one status line a
// second and a summary when interrupted (Ctrl-C: SIGINT), and exit 0. rtp-l16 makes the figures
// exact: every packet is 12 + 1920 bytes, 50 a second.

const L16_PACKET_BYTES = 12 + 960 * 2;
const L16_KBITS_PER_SECOND = (L16_PACKET_BYTES * 8 * 50) / 1000; // 772.8

const SEND_STATUS = /^(\d+)s {2}sent (\d+) pkts {2}(\d+\.\d) kbit\/s {2}rtp-l16 -> 127\.0\.0\.1:(\d+)$/;
const SEND_SUMMARY = /^sent (\d+) packets \((\d+) bytes\) in (\d+\.\d) s, rtp-l16 -> 127\.0\.0\.1:(\d+)$/;
const RECV_STATUS =
  /^(\d+)s {2}rx (\d+) {2}lost (\d+) \((\d+\.\d)%\) {2}late (\d+) {2}jitter (\d+\.\d) ms {2}delay (\d+)\/(\d+) ms {2}concealed (\d+) ms {2}underruns (\d+)$/;
const RECV_SUMMARY = [
  /^received (\d+) packets in (\d+\.\d) s$/,
  /^lost (\d+) \((\d+\.\d)%\), late (\d+), duplicated (\d+), reordered (\d+), malformed (\d+)$/,
  /^jitter (\d+\.\d) ms, playout delay (\d+) ms \(target (\d+) ms\)$/,
  /^concealed (\d+) ms, time-scaled (\d+) ms, underruns (\d+), drift (-?\d+\.\d) ppm$/,
];

const numbers = (match: RegExpMatchArray) => match.slice(1).map(Number);
const matching = (pattern: RegExp) => (line: Record<string, unknown>) => line.type === 'text' && pattern.test(line.text as string);
const text = (line: Record<string, unknown>) => line.text as string;

test('send and recv print human status lines and, on Ctrl-C, a summary with packets, loss, jitter, delay and rate', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'intercom-cli-status-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const receiver = runCli(['recv', '0', '--host', '127.0.0.1', '--format', 'rtp-l16', '--wav', path.join(dir, 'out.wav')]);
  t.teardown(() => receiver.child.kill('SIGKILL'));
  const listening = text(await lineWhere(receiver, matching(/^listening on UDP port \d+ \(rtp-l16\)$/)));
  const port = Number(/port (\d+)/.exec(listening)![1]);

  const sender = runCli(['send', '127.0.0.1', String(port), '--format', 'rtp-l16']);
  t.teardown(() => sender.child.kill('SIGKILL'));

  // A second of audio has arrived and been reported.
  const receiving = text(await lineWhere(receiver, (line) => matching(RECV_STATUS)(line) && numbers(RECV_STATUS.exec(text(line))!)[1] >= 50));
  const [, rx, lost, lossPercent, , jitterMs, delayMs, targetMs] = numbers(RECV_STATUS.exec(receiving)!);
  t.log(receiving);
  t.true(rx >= 50);
  t.is(lost, 0);
  t.is(lossPercent, 0);
  t.true(jitterMs >= 0 && jitterMs < 100, `jitter ${jitterMs} ms on loopback`);
  t.true(delayMs > 0 && delayMs <= 400 && targetMs >= 5 && targetMs <= 400, `delay ${delayMs}/${targetMs} ms (jitter.minMs is 5)`);

  const sending = text(await lineWhere(sender, matching(SEND_STATUS)));
  t.log(sending);
  const [seconds, packets, kbps, destinationPort] = numbers(SEND_STATUS.exec(sending)!);
  t.is(destinationPort, port);
  t.true(seconds >= 1 && packets >= 40, sending);
  t.true(Math.abs(kbps - L16_KBITS_PER_SECOND) < 0.15 * L16_KBITS_PER_SECOND, `${kbps} kbit/s, expected about ${L16_KBITS_PER_SECOND}`);

  sender.stop();
  t.is((await sender.exited).code, 0);
  const sendSummary = textLines(sender).map((line) => SEND_SUMMARY.exec(line)).find(Boolean);
  t.truthy(sendSummary, textLines(sender).join('\n'));
  const [sentPackets, sentBytes, sentSeconds] = numbers(sendSummary!);
  t.log(sendSummary![0]);
  t.true(sentPackets >= packets);
  t.is(sentBytes, sentPackets * L16_PACKET_BYTES);
  t.true(Math.abs(sentPackets - sentSeconds * 50) <= 0.1 * sentSeconds * 50 + 2, `${sentPackets} packets in ${sentSeconds} s`);
  t.false(textLines(sender).some((line) => line.startsWith('{')), 'no JSON without --json');

  // Once the receiver has reported every packet, interrupt it too.
  await lineWhere(receiver, (line) => matching(RECV_STATUS)(line) && numbers(RECV_STATUS.exec(text(line))!)[1] === sentPackets);
  receiver.stop();
  t.is((await receiver.exited).code, 0);
  const lines = textLines(receiver);
  const start = lines.findIndex((line) => RECV_SUMMARY[0].test(line));
  t.true(start >= 0, lines.join('\n'));
  const summary = RECV_SUMMARY.map((pattern, index) => pattern.exec(lines[start + index] ?? ''));
  t.log(lines.slice(start).join('\n'));
  t.true(summary.every(Boolean), lines.slice(start).join('\n'));
  const [[received], [summaryLost, summaryLossPercent, , , , malformed], [summaryJitter, playoutDelay, playoutTarget]] = summary.map((match) => numbers(match!));
  t.is(received, sentPackets);
  t.is(summaryLost, 0);
  t.is(summaryLossPercent, 0);
  t.is(malformed, 0);
  t.true(summaryJitter >= 0 && summaryJitter < 100);
  t.true(playoutDelay >= 0 && playoutTarget >= 5, `target ${playoutTarget} ms (jitter.minMs is 5)`);
});
