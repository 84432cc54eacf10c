import type { AudioDeviceState, CallMedia, CallMediaStats, MediaEndpoint } from '../../src/calls/call-media.js';
import type { UnitMedia } from '../../src/streaming/unit-media.js';

/**
 * A media engine stand-in that records what the call service asks of it. `msSinceLastPacket`
 * plays the part of the audio arriving (a number) or not (grows with the test's clock).
 */
export class FakeCallMedia implements CallMedia {
  audioAvailable = true;
  audioError: string | null = null;
  readonly log: string[] = [];
  readonly started = new Map<string, MediaEndpoint>();
  msSinceLastPacket: number | null = 0;
  private readonly prepared = new Map<string, MediaEndpoint>();

  constructor(
    readonly udpPort: number,
    readonly ssrc: number,
    readonly address = '0.0.0.0',
  ) {}

  audioState(): AudioDeviceState {
    const device = this.audioAvailable ? 'fake' : null;
    return { available: this.audioAvailable, captureDevice: device, playbackDevice: device, error: this.audioError, encrypted: true };
  }

  prepare(callId: string): MediaEndpoint {
    this.log.push(`prepare ${callId}`);
    const endpoint: MediaEndpoint = { address: this.address, udpPort: this.udpPort, format: 'rtp-opus', ssrc: this.ssrc, frameMs: 20 };
    this.prepared.set(callId, endpoint);
    return endpoint;
  }

  start(callId: string, remote: MediaEndpoint): void {
    if (!this.prepared.has(callId)) throw new Error(`start before prepare for ${callId}`);
    if (this.started.size > 0) throw new Error('a second call started while one is running');
    this.log.push(`start ${callId}`);
    this.started.set(callId, remote);
  }

  stop(callId: string): void {
    this.log.push(`stop ${callId}`);
    this.started.delete(callId);
    this.prepared.delete(callId);
  }

  stats(callId: string): CallMediaStats | null {
    if (!this.started.has(callId)) return null;
    return {
      currentDelayMs: 40,
      targetDelayMs: 40,
      jitterMs: 1.5,
      packetsSent: 100,
      packetsReceived: 99,
      packetsLost: 1,
      packetsLate: 0,
      packetsDuplicated: 0,
      packetsReordered: 0,
      packetsMalformed: 0,
      concealedMs: 20,
      timeScaledMs: 0,
      underruns: 0,
      driftPpm: 0,
      msSinceLastPacket: this.msSinceLastPacket,
    };
  }
}

/** A media double as a unit's media: nothing to open or close. */
export function unitMediaOf(callMedia: CallMedia): UnitMedia {
  return { callMedia, start: async () => ({ udpPort: null }), stop: async () => undefined };
}
