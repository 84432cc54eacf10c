import dgram from 'node:dgram';
import { once } from 'node:events';
import type { WireFormatName } from '../src/config/schema.js';
import { createMediaReceiver, createMediaSender } from '../src/streaming/stream-setup.js';
import type { MediaSender } from '../src/media/media-sender.js';
import type { MediaReceiver } from '../src/media/media-receiver.js';
import { generateSrtpMasterKeys } from '../src/media/srtp.js';

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

interface Side {
  sender: MediaSender;
  receiver: MediaReceiver;
  socket: dgram.Socket;
  arrived: number;
}

/** Frames sent before waiting for them to arrive: the real service waits for nothing, so neither does most of this loop. */
const BATCH_FRAMES = 10;

export async function runCpuPerCall(format: WireFormatName, seconds = 60, opus: { complexity?: number; maxBandwidthHz?: number } = {}, srtp = false): Promise<CpuPerCallResult> {
  const settings = { format, frameMs: 20, bitrate: 32_000, ...opus, minDelayMs: 20, maxDelayMs: 400 };
  const frameSamples = 960;
  const frames = Math.round(seconds * 50);
  // Pre-generate input so signal synthesis is not counted as call work.
  const input = Array.from({ length: 250 }, (_, index) => speechLikeFrame(index, frameSamples));

  const srtpKeys = srtp ? generateSrtpMasterKeys() : undefined;
  const sides: Side[] = [];
  for (let index = 0; index < 2; index += 1) {
    const socket = dgram.createSocket('udp4');
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    // With SRTP both ends use one key set here: the work per packet is the same as with two.
    const side: Side = {
      sender: await createMediaSender(settings, undefined, srtpKeys),
      receiver: await createMediaReceiver(settings, undefined, srtpKeys),
      socket,
      arrived: 0,
    };
    // As in the service: each datagram goes straight into the receiver as it arrives, stamped
    // with the time it would arrive in a real-time call (its frame's time plus 1 ms).
    socket.on('message', (datagram) => {
      side.receiver.receiveDatagram(datagram, side.arrived * 20 + 1);
      side.arrived += 1;
    });
    sides.push(side);
  }
  const [a, b] = sides;
  const portOfA = a.socket.address().port;
  const portOfB = b.socket.address().port;

  const started = process.cpuUsage();
  for (let first = 0; first < frames; first += BATCH_FRAMES) {
    const last = Math.min(frames, first + BATCH_FRAMES);
    for (let frame = first; frame < last; frame += 1) {
      a.socket.send(a.sender.sendFrame(input[frame % input.length]), portOfB, '127.0.0.1');
      b.socket.send(b.sender.sendFrame(input[(frame + 7) % input.length]), portOfA, '127.0.0.1');
    }
    while (a.arrived < last || b.arrived < last) await once(a.arrived < last ? a.socket : b.socket, 'message');
    for (let frame = first; frame < last; frame += 1) {
      a.receiver.readFrame(frame * 20 + 2);
      b.receiver.readFrame(frame * 20 + 2);
    }
  }
  const used = process.cpuUsage(started);
  for (const side of sides) {
    side.socket.close();
    side.sender.close();
    side.receiver.close();
  }
  const cpuSeconds = (used.user + used.system) / 1e6;
  return { format, audioSeconds: seconds, cpuSeconds, coreFraction: cpuSeconds / seconds };
}
