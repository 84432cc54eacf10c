import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { parseSoundCards, type AudioDirection } from './device-resolver.js';

const run = promisify(execFile);

/**
 * A sound card's hardware level for one direction: the speaker's playback volume or the
 * microphone's capture gain, 0-100 on the card's own perceptual scale. USB cards usually have both;
 * a card without one (or a device that is no card at all) answers null from `findMixer`, and the
 * level is then applied in software (src/audio/audio-levels.ts).
 */
export interface MixerControl {
  /** What is set, for the status and the log: e.g. "hw:Device 'Speaker'". */
  readonly name: string;
  /** Sets the level (0-100); rejects with the mixer's reason. */
  setLevel(level: number): Promise<void>;
}

/** Finds the mixer control for `direction` of the ALSA device `device`; null when the card has none. */
export interface MixerFinder {
  find(device: string, direction: AudioDirection): Promise<MixerControl | null>;
}

/** One simple mixer control as `amixer scontents` lists it. */
export interface SimpleControl {
  name: string;
  index: number;
  capabilities: string[];
}

/** Parses `amixer scontents`: "Simple mixer control 'Speaker',0" then "  Capabilities: pvolume pswitch ...". */
export function parseSimpleControls(text: string): SimpleControl[] {
  const controls: SimpleControl[] = [];
  for (const line of text.split('\n')) {
    const header = /^Simple mixer control '(.*)',(\d+)\s*$/.exec(line);
    if (header) {
      controls.push({ name: header[1], index: Number(header[2]), capabilities: [] });
      continue;
    }
    const capabilities = /^\s+Capabilities:\s*(.*)$/.exec(line);
    if (capabilities && controls.length > 0) controls.at(-1)!.capabilities = capabilities[1].trim().split(/\s+/).filter(Boolean);
  }
  return controls;
}

/** Names USB and onboard cards give their main controls, most wanted first. */
const PREFERRED: Record<AudioDirection, string[]> = {
  playback: ['Speaker', 'PCM', 'Headphone', 'Master', 'Playback', 'Line Out'],
  capture: ['Mic', 'Capture', 'Mic Capture', 'Line'],
};

/**
 * The control that sets `direction`'s level: a playback volume (pvolume, or a common "volume") for
 * the speaker, a capture volume (cvolume) for the microphone; the usual names first, else the first
 * such control. Null when the card has none (many cheap cards have no capture volume).
 */
export function chooseControl(controls: readonly SimpleControl[], direction: AudioDirection): SimpleControl | null {
  const fits = (control: SimpleControl) =>
    direction === 'playback' ? control.capabilities.includes('pvolume') || control.capabilities.includes('volume') : control.capabilities.includes('cvolume');
  const candidates = controls.filter(fits);
  for (const name of PREFERRED[direction]) {
    const found = candidates.find((control) => control.name.toLowerCase() === name.toLowerCase());
    if (found) return found;
  }
  return candidates[0] ?? null;
}

/**
 * The ALSA control device of a PCM name: "plughw:CARD=Device,DEV=0" and "hw:1,0" name their card
 * ("hw:Device", "hw:1"); "default" and "sysdefault" the default card; a part of a card's name is
 * looked up in /proc/asound/cards; any other name is tried as it is (an asoundrc may define a
 * control device of the same name as its PCM; amixer says when there is none).
 */
export function controlDeviceFor(device: string, procAsoundCards: string | null): string | null {
  const wanted = device.trim();
  const hardware = /^(?:plug)?hw:(.+)$/i.exec(wanted);
  if (hardware) {
    const first = hardware[1].split(',')[0].trim();
    const card = /^CARD=(.*)$/i.exec(first)?.[1] ?? first;
    return card === '' ? null : `hw:${card}`;
  }
  const cardKeyed = /^[a-z]+:CARD=([^,]+)/i.exec(wanted);
  if (cardKeyed) return `hw:${cardKeyed[1]}`;
  if (/^(default|sysdefault)$/i.test(wanted)) return 'default';
  if (wanted === '') return null;
  const lower = wanted.toLowerCase();
  const card = parseSoundCards(procAsoundCards ?? '').find((candidate) => candidate.id.toLowerCase().includes(lower) || candidate.name.toLowerCase().includes(lower));
  return card ? `hw:${card.id}` : wanted;
}

export interface AmixerOptions {
  /** The amixer program (alsa-utils); default "amixer". */
  command?: string;
  /** Environment for amixer (tests point ALSA_CONFIG_PATH at virtual devices). */
  env?: NodeJS.ProcessEnv;
  /** /proc/asound/cards; default read from there (null when there is no sound support at all). */
  readCards?: () => Promise<string | null>;
  timeoutMs?: number;
}

/**
 * Finds and sets mixer controls with alsa-utils' `amixer`, which every unit has: `scontents` lists
 * the card's simple controls with their capabilities, `sset -M` sets one on the mapped (perceptual)
 * scale, the one alsamixer shows, so 50 sounds half as loud on every card.
 */
export class AmixerFinder implements MixerFinder {
  private readonly command: string;

  constructor(private readonly options: AmixerOptions = {}) {
    this.command = options.command ?? 'amixer';
  }

  async find(device: string, direction: AudioDirection): Promise<MixerControl | null> {
    const cards = await (this.options.readCards ?? readProcCards)();
    const controlDevice = controlDeviceFor(device, cards);
    if (controlDevice === null) return null;
    let listing: string;
    try {
      listing = (await this.amixer(['-D', controlDevice, 'scontents'])).stdout;
    } catch {
      // No such card, or a device without a control interface (a plugin PCM): no hardware level.
      return null;
    }
    const control = chooseControl(parseSimpleControls(listing), direction);
    if (!control) return null;
    const selector = `${control.name},${control.index}`;
    return {
      name: `${controlDevice} '${control.name}'${control.index === 0 ? '' : `,${control.index}`}`,
      setLevel: async (level) => {
        const percent = Math.round(Math.min(100, Math.max(0, level)));
        await this.amixer(['-q', '-M', '-D', controlDevice, 'sset', selector, direction, `${percent}%`]);
      },
    };
  }

  private amixer(args: string[]): Promise<{ stdout: string }> {
    return run(this.command, args, { env: this.options.env ?? process.env, timeout: this.options.timeoutMs ?? 5_000, encoding: 'utf8' });
  }
}

async function readProcCards(): Promise<string | null> {
  return readFile('/proc/asound/cards', 'utf8').catch(() => null);
}
