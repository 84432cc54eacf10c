/**
 * The sound-card boundary. Everything above it speaks 48 kHz mono signed 16-bit frames; the
 * adapter below it deals with the device: the project's own ALSA engine (alsa-engine-backend.ts),
 * naudiodon in child processes (the portable one), or the in-memory double in tests.
 */

export interface AudioDeviceInfo {
  /** Backend-specific index, stable only for one run. */
  id: number;
  /** Name as the system reports it, e.g. "USB Audio Device: - (hw:1,0)" or "default". */
  name: string;
  hostApi: string;
  maxInputChannels: number;
  maxOutputChannels: number;
  defaultSampleRate: number;
}

export interface CaptureOptions {
  /** An ALSA name ("default", "plughw:CARD=Device") or a case-insensitive substring of a device name. */
  device: string;
  frameSamples: number;
  /**
   * Called with exactly `frameSamples` samples per call, paced by the device's clock; `position`
   * (see CapturedFrame) where the backend counts the device's samples.
   */
  onFrame(pcm: Int16Array, position?: number): void;
  /** The device failed or went away after opening. */
  onError?(error: Error): void;
}

/** When a frame the playback device asks for will be heard. */
export interface PlayoutTiming {
  /** When its first sample will leave the speaker, on performance.now()'s clock. */
  playoutAtMs: number;
  /**
   * How long before that the device steadily asks for a frame (what normally waits ahead of it in
   * the backend and the device): the frame is due at playoutAtMs - outputDelayMs. On the device's
   * clock, so the due times are as regular as the device, however late the service answers.
   */
  outputDelayMs: number;
  /**
   * Absent: the device wants exactly a frame. Present: it plays all it is given, at least this
   * many samples; the answer may hold more (at most two frames), and the device asks again when
   * that has played. So the jitter buffer hands over each packet as soon as it is decoded and is
   * asked again just when the next one is due: with fixed frames, the point where a packet is
   * taken sits up to a frame above its target (half a frame of delay lost on average).
   */
  samples?: number;
}

export interface PlaybackOptions {
  device: string;
  frameSamples: number;
  /**
   * Called by the device's clock each time it needs `frameSamples` more samples; must return
   * exactly that many. The playback device's clock therefore drives playout. `timing` where the
   * backend knows when the frame will be heard.
   */
  nextFrame(timing?: PlayoutTiming): Int16Array;
  onError?(error: Error): void;
}

export interface AudioStream {
  /** The device actually opened (after resolving a substring). */
  readonly deviceName: string;
  /** The stream's own figures where the backend keeps them (e.g. silence played because a frame came late). */
  stats?(): object;
  /**
   * Whether the service wants this stream's audio now (default: yes). Between calls a unit keeps
   * its devices running but has nothing to do with them: an idle capture stream may drop what it
   * reads and an idle playback stream may play silence on its own, without waking the service
   * fifty times a second. Backends that cannot do this leave it out.
   */
  setRelaying?(relaying: boolean): void;
  close(): Promise<void>;
}

/** One captured frame with what the speaker was playing while it was captured. */
export interface CapturedFrame {
  mic: Int16Array;
  /**
   * reference[i] is the sample that was leaving the speaker when mic[i] was captured, by the
   * backend's accounting of both devices' buffers (what an echo canceller subtracts). Silence
   * while nothing plays.
   */
  reference: Int16Array;
  /** When mic[0] was captured, on performance.now()'s clock. */
  capturedAtMs: number;
  /**
   * Index of mic[0] among the samples the capture device has delivered since it opened, where the
   * backend counts them: frames lost on the way (the service too late to collect them) leave a gap.
   */
  position?: number;
}

export interface DuplexOptions {
  /** Capture device, or null for playback only. */
  captureDevice: string | null;
  /** Playback device, or null for capture only. */
  playbackDevice: string | null;
  /** The codec frame: captured audio is delivered, and playback asked for, in frames of this size. */
  frameSamples: number;
  onCapture?(frame: CapturedFrame): void;
  /**
   * The playback device needs the next frame (exactly frameSamples; see timing.samples for a
   * backend that takes more or less), to be heard as `timing` says. Called on the device's clock while the stream is active; never waited for by the
   * device: a late answer is played as concealment and the stream catches up.
   */
  nextFrame?(timing: PlayoutTiming): Int16Array;
  /** A device failed or stopped delivering after opening; the stream is unusable. */
  onError?(error: Error): void;
}

/**
 * Capture and playback of one unit, opened once. Active: both devices run (a call, or the unit's
 * own sounds); inactive: they are stopped, or at least nothing reaches the service, and an idle
 * unit costs (next to) nothing.
 */
export interface DuplexStream {
  readonly captureDevice: string | null;
  readonly playbackDevice: string | null;
  /** Starts or stops the devices; resolves when done (a start of a stopped engine takes a few ms). */
  setActive(active: boolean): Promise<void>;
  readonly active: boolean;
  /** Whether captured frames are wanted while active (not while only the ring tone plays). */
  setCaptureWanted(wanted: boolean): void;
  stats(): object;
  close(): Promise<void>;
}

export interface AudioBackend {
  listDevices(): Promise<AudioDeviceInfo[]>;
  openCapture(options: CaptureOptions): Promise<AudioStream>;
  openPlayback(options: PlaybackOptions): Promise<AudioStream>;
  /** Both directions as one stream, with the playback reference for every captured frame. */
  openDuplex(options: DuplexOptions): Promise<DuplexStream>;
  /** Closes every stream and releases the backend (e.g. ends its helper process). */
  close(): Promise<void>;
}

/** No device matched what was asked for; the message says what was looked for and what exists. */
export class AudioDeviceNotFoundError extends Error {
  constructor(
    readonly wanted: string,
    readonly direction: 'capture' | 'playback',
    readonly available: string[],
  ) {
    super(
      `no ${direction} device matches "${wanted}"; available ${direction} devices: ` +
        (available.length > 0 ? available.map((name) => `"${name}"`).join(', ') : 'none'),
    );
    this.name = 'AudioDeviceNotFoundError';
  }
}
