/**
 * The sound-card boundary. Everything above it speaks 48 kHz mono signed 16-bit frames; the
 * adapter below it (naudiodon in a child process, or the in-memory double in tests) deals with
 * the device.
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
  /** Called with exactly `frameSamples` samples per call, paced by the device's clock. */
  onFrame(pcm: Int16Array): void;
  /** The device failed or went away after opening. */
  onError?(error: Error): void;
}

export interface PlaybackOptions {
  device: string;
  frameSamples: number;
  /**
   * Called by the device's clock each time it needs `frameSamples` more samples; must return
   * exactly that many. The playback device's clock therefore drives playout.
   */
  nextFrame(): Int16Array;
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

export interface AudioBackend {
  listDevices(): Promise<AudioDeviceInfo[]>;
  openCapture(options: CaptureOptions): Promise<AudioStream>;
  openPlayback(options: PlaybackOptions): Promise<AudioStream>;
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
