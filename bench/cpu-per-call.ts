import dgram from 'node:dgram';
import { once } from 'node:events';
import type { WireFormatName } from '../src/config/schema.js';
import { createMediaReceiver, createMediaSender } from '../src/streaming/stream-setup.js';
import type { MediaSender } from '../src/media/media-sender.js';
import type { MediaReceiver } from '../src/media/media-receiver.js';

/**
 * CPU per call: the audio work of one full-duplex call (encode, packetise, send over UDP on
 * loopback, receive, jitter buffer, decode; both directions) run as fast as the machine allows,
 * reported as the fraction of one core it would take in real time.
 */
export interface CpuPerCallResult {
  format: WireFormatName;
  audioSeconds: number;
  cpuSeconds: number;
  /** CPU time / audio time: 0.01 means 1% of one core. */
  coreFraction: number;
}

function speechLikeFrame(frameIndex: number, frameSamples: number): Int16Array {
  const frame = new Int16Array(frameSamples);
  for (let i = 0; i < frameSamples; i += 1) {
    const t = (frameIndex * frameSamples + i) / 48_000;
    const pitch = 130 + 25 * Math.sin(2 * Math.PI * 0.8 * t);
    const envelope = Math.max(0, Math.sin(2 * Math.PI * 4 * t));
    let value = 0;
    for (let harmonic = 1; harmonic <= 12; harmonic += 1) value += Math.sin(2 * Math.PI * harmonic * pitch * t) / harmonic;
    frame[i] = Math.round(6000 * envelope * value);
  }
  return frame;
}

interface Direction {
  sender: MediaSender;
  receiver: MediaReceiver;
  socket: dgram.Socket;
}

export async function runCpuPerCall(format: WireFormatName, seconds = 60, opus: { complexity?: number; maxBandwidthHz?: number } = {}): Promise<CpuPerCallResult> {
  const settings = { format, frameMs: 20, bitrate: 32_000, ...opus, minDelayMs: 20, maxDelayMs: 400 };
  const frameSamples = 960;
  const frames = Math.round(seconds * 50);
  // Pre-generate input so signal synthesis is not counted as call work.
  const input = Array.from({ length: 250 }, (_, index) => speechLikeFrame(index, frameSamples));

  const directions: Direction[] = [];
  for (let side = 0; side < 2; side += 1) {
    const socket = dgram.createSocket('udp4');
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    directions.push({ sender: await createMediaSender(settings), receiver: await createMediaReceiver(settings), socket });
  }
  const [a, b] = directions;
  const portOfA = a.socket.address().port;
  const portOfB = b.socket.address().port;

  const started = process.cpuUsage();
  for (let frame = 0; frame < frames; frame += 1) {
    const nowMs = frame * 20;
    const arrivals = Promise.all([once(a.socket, 'message'), once(b.socket, 'message')]);
    a.socket.send(a.sender.sendFrame(input[frame % input.length]), portOfB, '127.0.0.1');
    b.socket.send(b.sender.sendFrame(input[(frame + 7) % input.length]), portOfA, '127.0.0.1');
    const [[toA], [toB]] = await arrivals;
    a.receiver.receiveDatagram(toA as Buffer, nowMs + 1);
    b.receiver.receiveDatagram(toB as Buffer, nowMs + 1);
    a.receiver.readFrame(nowMs + 2);
    b.receiver.readFrame(nowMs + 2);
  }
  const used = process.cpuUsage(started);
  for (const direction of directions) direction.socket.close();
  const cpuSeconds = (used.user + used.system) / 1e6;
  return { format, audioSeconds: seconds, cpuSeconds, coreFraction: cpuSeconds / seconds };
}
