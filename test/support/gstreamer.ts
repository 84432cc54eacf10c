import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';

/** A UDP port that was free a moment ago (for a GStreamer udpsrc, which cannot report its own). */
export async function freeUdpPort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/**
 * Runs `gst-launch-1.0 -e PIPELINE`: `playing` resolves once the pipeline runs, SIGINT ends it
 * with an end-of-stream (so file sinks are complete), `exited` gives the code and all output.
 */
export function gstLaunch(pipeline: string) {
  const child = spawn('gst-launch-1.0', ['-e', ...pipeline.split(/\s+/).filter(Boolean)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const playing = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', () => {
      if (output.includes('Setting pipeline to PLAYING')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`gst-launch exited (${code}) before playing: ${output}`)));
  });
  const exited = once(child, 'exit').then(([code]) => ({ code: code as number | null, output }));
  return { child, playing, exited, output: () => output };
}
