import { EventEmitter } from 'node:events';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import Type, { type Static } from 'typebox';
import { readJsonFile, removeStaleTempFiles, writeFileAtomic } from '../system/atomic-file.js';
import type { Logger } from '../logging/logger.js';
import type { MixerControl, MixerFinder } from './mixer.js';
import { micGainFactor, volumeFactor, type SoftwareLevels } from './level-gain.js';

export { micGainFactor, scaled, volumeFactor, type SoftwareLevels } from './level-gain.js';

/** Who set the levels last: a person (panel or API) or the card's intercom.txt at boot. */
export const LEVEL_SOURCES = ['api', 'intercom.txt'] as const;
export type LevelSource = (typeof LEVEL_SOURCES)[number];

/** The name of the levels file in the data directory; the image's settings step writes it too. */
export const AUDIO_LEVELS_FILE = 'audio-levels.json';

const Level = (description: string) => Type.Integer({ minimum: 0, maximum: 100, description });

export const AudioLevelsStatusSchema = Type.Object(
  {
    volume: Level('speaker volume, 0 (silent) to 100'),
    micGain: Level('microphone gain, 0 to 100 (50: as the card delivers it in software)'),
    muted: Type.Boolean({ description: 'the microphone is muted: the far end of a call hears silence (lifted when the call ends)' }),
    volumeControl: Type.String({ description: 'where the volume is applied: the sound card\'s mixer control (e.g. "mixer hw:Device \'Speaker\'") or "software"' }),
    micGainControl: Type.String({ description: 'where the microphone gain is applied: the card\'s capture control or "software"' }),
    changedAt: Type.Union([Type.String(), Type.Null()], { description: 'when volume or gain were last set (ISO 8601); null: never, the configured audio.volume and audio.micGain apply' }),
    changedBy: Type.Union([Type.Enum([...LEVEL_SOURCES]), Type.Null()], { description: 'api: the panel or the HTTP API; intercom.txt: the settings file at boot; null: never set' }),
  },
  { description: "this unit's speaker volume, microphone gain and mute; volume and gain are kept in <dataDir>/audio-levels.json" },
);
export type AudioLevelsStatus = Static<typeof AudioLevelsStatusSchema>;

export const AudioLevelsBodySchema = Type.Object(
  {
    volume: Type.Optional(Level('speaker volume, 0 (silent) to 100')),
    micGain: Type.Optional(Level('microphone gain, 0 to 100')),
    muted: Type.Optional(Type.Boolean({ description: 'mute (true) or unmute (false) the microphone' })),
  },
  { additionalProperties: false, minProperties: 1, description: 'what to change; what is left out stays as it is' },
);
export type AudioLevelsChange = Static<typeof AudioLevelsBodySchema>;

/** The levels file: written by the service (and, at boot, by the image's settings step). */
export interface AudioLevelsFile {
  version: 1;
  volume: number;
  micGain: number;
  changedAt: string | null;
  changedBy: LevelSource | null;
}

const isLevel = (value: unknown): value is number => Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 100;

export function checkAudioLevelsFile(value: unknown): string | null {
  const file = value as Partial<AudioLevelsFile>;
  if (!file || typeof file !== 'object' || file.version !== 1) return 'is not a version 1 audio levels file';
  if (!isLevel(file.volume) || !isLevel(file.micGain)) return 'has a volume or micGain that is not a whole number from 0 to 100';
  if (file.changedAt !== null && typeof file.changedAt !== 'string') return 'has an invalid changedAt';
  if (file.changedBy !== null && !LEVEL_SOURCES.includes(file.changedBy as LevelSource)) return 'has an invalid changedBy';
  return null;
}

export interface AudioLevelsOptions {
  dataDir: string;
  /** audio.volume and audio.micGain: the levels until someone sets others. */
  defaults: { volume: number; micGain: number };
  /** Finds the card's mixer controls; null: software only. */
  mixer: MixerFinder | null;
  playbackDevice: string;
  captureDevice: string;
  software: SoftwareLevels | null;
  logger?: Logger;
  now?: () => Date;
}

export type AudioLevelsEvents = { changed: [status: AudioLevelsStatus] };

type Direction = 'playback' | 'capture';

/**
 * The unit's speaker volume, microphone gain and microphone mute. Volume and gain go to the sound
 * card's mixer controls where it has them, else into the media engine as software gains; they are
 * written atomically to `<dataDir>/audio-levels.json` before a change is acknowledged, so they
 * survive restarts and reboots. The mute is not kept: it lasts until unmuted or the call ends.
 */
export class AudioLevels extends EventEmitter<AudioLevelsEvents> {
  readonly filePath: string;
  private state: Omit<AudioLevelsFile, 'version'>;
  private muted = false;
  private readonly controls: Record<Direction, MixerControl | null> = { playback: null, capture: null };
  private writeQueue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: AudioLevelsOptions) {
    super();
    this.filePath = path.join(options.dataDir, AUDIO_LEVELS_FILE);
    this.state = { ...options.defaults, changedAt: null, changedBy: null };
  }

  /** Reads the saved levels (a corrupt file is kept aside and logged), finds the card's controls and applies them. */
  async load(): Promise<void> {
    const { dataDir, logger } = this.options;
    await mkdir(dataDir, { recursive: true });
    await removeStaleTempFiles(this.filePath);
    const read = await readJsonFile(this.filePath, checkAudioLevelsFile);
    if (read.kind === 'corrupt') {
      logger?.error({ file: this.filePath, keptAs: read.keptAs, reason: read.reason }, 'audio levels file is corrupt; it was kept aside and audio.volume and audio.micGain apply');
    } else if (read.kind === 'ok') {
      const { volume, micGain, changedAt, changedBy } = read.value as AudioLevelsFile;
      this.state = { volume, micGain, changedAt, changedBy };
    }
    await Promise.all((['playback', 'capture'] as const).map((direction) => this.findControl(direction)));
    await this.apply('playback');
    await this.apply('capture');
    this.options.software?.setMicMuted(false);
    logger?.info({ levels: this.status() }, `volume ${this.state.volume} (${this.where('playback')}), microphone gain ${this.state.micGain} (${this.where('capture')})`);
  }

  /**
   * Looks for the card's controls again and applies the levels to them: the sound devices just
   * opened, maybe a card that was not there at start or was replugged (a USB card forgets its
   * mixer levels when it is unplugged). Never rejects; says in the log where the levels went.
   */
  refresh(): Promise<void> {
    const done = this.writeQueue.then(async () => {
      const before = [this.where('playback'), this.where('capture')];
      await Promise.all((['playback', 'capture'] as const).map((direction) => this.findControl(direction)));
      await this.apply('playback');
      await this.apply('capture');
      const after = [this.where('playback'), this.where('capture')];
      if (before.join() !== after.join()) {
        this.options.logger?.info({ volumeControl: after[0], micGainControl: after[1] }, `levels now applied: volume by ${after[0]}, microphone gain by ${after[1]}`);
        this.emit('changed', this.status());
      }
    });
    this.writeQueue = done.catch(() => undefined);
    return done.catch(() => undefined);
  }

  get isMuted(): boolean {
    return this.muted;
  }

  status(): AudioLevelsStatus {
    return {
      volume: this.state.volume,
      micGain: this.state.micGain,
      muted: this.muted,
      volumeControl: this.where('playback'),
      micGainControl: this.where('capture'),
      changedAt: this.state.changedAt,
      changedBy: this.state.changedBy,
    };
  }

  /**
   * Changes what `change` names; resolves once new levels are on disk and applied. A write that
   * fails rejects with the file system's error and leaves the levels as they were.
   */
  set(change: AudioLevelsChange, by: LevelSource = 'api'): Promise<AudioLevelsStatus> {
    const write = this.writeQueue.then(async () => {
      const volume = change.volume ?? this.state.volume;
      const micGain = change.micGain ?? this.state.micGain;
      const levelsChanged = volume !== this.state.volume || micGain !== this.state.micGain;
      const muteChanged = change.muted !== undefined && change.muted !== this.muted;
      if (levelsChanged) {
        const next = { volume, micGain, changedAt: (this.options.now?.() ?? new Date()).toISOString(), changedBy: by };
        await writeFileAtomic(this.filePath, `${JSON.stringify({ version: 1, ...next } satisfies AudioLevelsFile, null, 2)}\n`);
        const before = this.state;
        this.state = next;
        if (volume !== before.volume) await this.apply('playback');
        if (micGain !== before.micGain) await this.apply('capture');
        this.options.logger?.info({ volume, micGain, by }, `audio levels set: volume ${volume}, microphone gain ${micGain}`);
      }
      if (muteChanged) this.applyMute(change.muted!);
      const status = this.status();
      if (levelsChanged || muteChanged) this.emit('changed', status);
      return status;
    });
    this.writeQueue = write.catch(() => undefined);
    return write;
  }

  /** Mutes or unmutes the microphone (not stored: nothing to write). */
  setMuted(muted: boolean): AudioLevelsStatus {
    if (muted !== this.muted) {
      this.applyMute(muted);
      this.emit('changed', this.status());
    }
    return this.status();
  }

  toggleMute(): AudioLevelsStatus {
    return this.setMuted(!this.muted);
  }

  private applyMute(muted: boolean): void {
    this.muted = muted;
    this.options.software?.setMicMuted(muted);
    this.options.logger?.info({ muted }, muted ? 'microphone muted: the far end hears silence' : 'microphone unmuted');
  }

  private where(direction: Direction): string {
    const control = this.controls[direction];
    return control ? `mixer ${control.name}` : 'software';
  }

  private async findControl(direction: Direction): Promise<void> {
    const { mixer, logger } = this.options;
    if (!mixer) return;
    const device = direction === 'playback' ? this.options.playbackDevice : this.options.captureDevice;
    try {
      this.controls[direction] = await mixer.find(device, direction);
    } catch (error) {
      this.controls[direction] = null;
      logger?.warn({ err: error, device, direction }, 'the sound card\'s mixer could not be read; the level is applied in software');
    }
  }

  /** Puts the level on the card's control, else (or when setting it fails) into the software gain. */
  private async apply(direction: Direction): Promise<void> {
    const { software, logger } = this.options;
    const level = direction === 'playback' ? this.state.volume : this.state.micGain;
    const control = this.controls[direction];
    if (control) {
      try {
        await control.setLevel(level);
        if (direction === 'playback') software?.setPlaybackGain(1);
        else software?.setCaptureGain(1);
        return;
      } catch (error) {
        logger?.warn({ err: error, control: control.name }, `the mixer control ${control.name} could not be set; the level is applied in software from now on`);
        this.controls[direction] = null;
      }
    }
    if (direction === 'playback') software?.setPlaybackGain(volumeFactor(level));
    else software?.setCaptureGain(micGainFactor(level));
  }
}
