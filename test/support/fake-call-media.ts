import type { AudioDeviceState, CallMedia, CallMediaStats, MediaEndpoint } from '../../src/calls/call-media.js';
import type { UnitMedia } from '../../src/streaming/unit-media.js';
import type { SoundOutput } from '../../src/sounds/call-sounds.js';
import type { PageMedia, PagePlayoutRequest, PageReception } from '../../src/paging/page-media.js';
import { agreeOnSrtp, createSrtpOffer } from '../../src/media/srtp-negotiation.js';
import type { SoftwareLevels } from '../../src/audio/audio-levels.js';

/**
 * A media engine stand-in that records what the call service asks of it. `msSinceLastPacket`
 * plays the part of the audio arriving (a number) or not (grows with the test's clock).
 */
export class FakeCallMedia implements CallMedia, SoftwareLevels {
  audioAvailable = true;
  /** What AudioLevels applied in software (no mixer with a media double): gains and the mute. */
  playbackGain = 1;
  captureGain = 1;
  micMuted = false;
  audioError: string | null = null;
  readonly log: string[] = [];
  readonly started = new Map<string, MediaEndpoint>();
  msSinceLastPacket: number | null = 0;
  private readonly prepared = new Map<string, MediaEndpoint>();

  constructor(
    readonly udpPort: number,
    readonly ssrc: number,
    readonly address = '',
    /** audio.srtp: like the real engine, each call gets fresh SRTP keys of its own, and plain RTP on one side only is refused. */
    readonly encrypted = true,
  ) {}

  setPlaybackGain(factor: number): void {
    this.playbackGain = factor;
  }

  setCaptureGain(factor: number): void {
    this.captureGain = factor;
  }

  setMicMuted(muted: boolean): void {
    this.micMuted = muted;
  }

  audioState(): AudioDeviceState {
    const device = this.audioAvailable ? 'fake' : null;
    return { available: this.audioAvailable, captureDevice: device, playbackDevice: device, error: this.audioError, encrypted: this.encrypted };
  }

  prepare(callId: string): MediaEndpoint {
    this.log.push(`prepare ${callId}`);
    const endpoint: MediaEndpoint = this.prepared.get(callId) ?? {
      address: this.address,
      udpPort: this.udpPort,
      format: 'rtp-opus',
      ssrc: this.ssrc,
      frameMs: 20,
      ...(this.encrypted ? { crypto: createSrtpOffer() } : {}),
    };
    this.prepared.set(callId, endpoint);
    return endpoint;
  }

  /** The endpoint this side offered for a call (its own SRTP keys included). */
  preparedFor(callId: string): MediaEndpoint | undefined {
    return this.prepared.get(callId);
  }

  start(callId: string, remote: MediaEndpoint): void {
    const local = this.prepared.get(callId);
    if (!local) throw new Error(`start before prepare for ${callId}`);
    if (this.started.size > 0) throw new Error('a second call started while one is running');
    const agreement = agreeOnSrtp(local.crypto, remote.crypto);
    if (!agreement.ok) throw new Error(`call audio refused: ${agreement.reason}`);
    this.log.push(`start ${callId}`);
    this.started.set(callId, remote);
  }

  /** Set to make the next calls' audio fail after start() returned, as a codec that cannot load. */
  startFailure: Error | null = null;

  async whenStarted(callId: string): Promise<void> {
    if (this.startFailure && this.started.has(callId)) throw this.startFailure;
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
export function unitMediaOf(callMedia: CallMedia, speaker: SoundOutput | null = null): UnitMedia {
  const levels = callMedia instanceof FakeCallMedia ? callMedia : null;
  const paging = callMedia instanceof FakeCallMedia ? new FakePageMedia(callMedia.udpPort) : undefined;
  return { callMedia, speaker, levels, paging, start: async () => ({ udpPort: null }), stop: async () => undefined };
}

/**
 * Paging's side of the media double: records the pages it is told to play and the datagrams it is
 * told to send (nothing travels); a page that plays reports a packet just now, so it plays until ended.
 */
export class FakePageMedia implements PageMedia {
  readonly multicast = false;
  readonly played: PagePlayoutRequest[] = [];
  playing: string | null = null;
  datagramsSent = 0;

  constructor(readonly mediaPort: number) {}

  sendPageDatagram(): void {
    this.datagramsSent += 1;
  }

  sendPageMulticast(): boolean {
    return false;
  }

  /** The live page's microphone listener while one is set (a test feeds it frames). */
  microphone: ((pcm: Int16Array) => void) | null = null;

  captureForPage(listener: ((pcm: Int16Array) => void) | null): void {
    this.microphone = listener;
  }

  async playPage(request: PagePlayoutRequest): Promise<void> {
    this.played.push(request);
    this.playing = request.pageId;
  }

  stopPage(pageId: string): void {
    if (this.playing === pageId) this.playing = null;
  }

  pageReception(pageId: string): PageReception | null {
    return this.playing === pageId ? { msSinceLastPacket: 0, multicastPackets: 0 } : null;
  }
}

/**
 * A speaker that plays the unit's own sounds on a clock of its own: `pull(frames)` takes that many
 * frames from the sound set last, as the playback device would, and remembers them for analysis.
 */
export class RecordingSpeaker implements SoundOutput {
  private source: { nextFrame(frameSamples: number): Int16Array | null } | null = null;
  /** Every source set, in order (null: stopped). */
  readonly changes: number[] = [];

  constructor(readonly frameSamples = 960) {}

  setLocalSound(source: { nextFrame(frameSamples: number): Int16Array | null } | null): void {
    this.source = source;
    this.changes.push(Date.now());
  }

  get playing(): boolean {
    return this.source !== null;
  }

  /** The next `frames` frames of what the speaker plays (silence where no sound plays). */
  pull(frames: number): Int16Array {
    const out = new Int16Array(frames * this.frameSamples);
    for (let index = 0; index < frames; index += 1) {
      const frame = this.source?.nextFrame(this.frameSamples) ?? null;
      if (frame === null) this.source = null;
      else out.set(frame.subarray(0, this.frameSamples), index * this.frameSamples);
    }
    return out;
  }
}
