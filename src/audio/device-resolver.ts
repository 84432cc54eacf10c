import { AudioDeviceNotFoundError, type AudioDeviceInfo } from './audio-backend.js';

export type AudioDirection = 'capture' | 'playback';

/** One line of /proc/asound/cards: card numbers change between boots, the id ("Device") does not. */
export interface SoundCard {
  index: number;
  /** ALSA card id, as used in "hw:CARD=Device". */
  id: string;
  driver: string;
  name: string;
}

export interface ResolvedDevice {
  device: AudioDeviceInfo;
  /** Other devices the same substring matched; the first match in the system's order wins. */
  otherMatches: string[];
}

function canServe(device: AudioDeviceInfo, direction: AudioDirection): boolean {
  return direction === 'capture' ? device.maxInputChannels > 0 : device.maxOutputChannels > 0;
}

/**
 * Turns an ALSA hardware name ("hw:1,0", "plughw:CARD=Device,DEV=0", "hw:Device") into the
 * "(hw:N,M)" suffix PortAudio puts in its device names, or undefined when `wanted` is not
 * such a name or names a card that is not present.
 */
function hardwareSuffix(wanted: string, cards: readonly SoundCard[]): string | undefined {
  const match = /^(?:plug)?hw:(.+)$/i.exec(wanted.trim());
  if (!match) return undefined;
  let card: string | undefined;
  let dev = '0';
  const parts = match[1].split(',').map((part) => part.trim());
  parts.forEach((part, position) => {
    const keyed = /^(CARD|DEV|SUBDEV)=(.*)$/i.exec(part);
    const key = keyed ? keyed[1].toUpperCase() : position === 0 ? 'CARD' : position === 1 ? 'DEV' : 'SUBDEV';
    const value = keyed ? keyed[2] : part;
    if (key === 'CARD') card = value;
    if (key === 'DEV') dev = value;
  });
  if (card === undefined || !/^\d+$/.test(dev)) return undefined;
  let cardIndex: number | undefined;
  if (/^\d+$/.test(card)) {
    cardIndex = Number(card);
  } else {
    const wantedCard = card;
    cardIndex = cards.find((candidate) => candidate.id === wantedCard)?.index;
    cardIndex ??= cards.find((candidate) => candidate.id.toLowerCase() === wantedCard.toLowerCase())?.index;
  }
  return cardIndex === undefined ? undefined : `(hw:${cardIndex},${Number(dev)})`;
}

/**
 * Picks the device the configuration means. `wanted` is an ALSA name ("default", "testmic",
 * "hw:1,0", "plughw:CARD=Device") or a case-insensitive substring of a device name ("USB"),
 * because card numbers change between boots. Order: exact name, ALSA hardware name (via the
 * card list), then substring; only devices that can serve `direction` count.
 *
 * @throws AudioDeviceNotFoundError listing the devices that could serve `direction`.
 */
export function resolveDevice(
  wanted: string,
  direction: AudioDirection,
  devices: readonly AudioDeviceInfo[],
  cards: readonly SoundCard[] = [],
): ResolvedDevice {
  const candidates = devices.filter((device) => canServe(device, direction));
  const notFound = () =>
    new AudioDeviceNotFoundError(
      wanted,
      direction,
      candidates.map((device) => device.name),
    );
  const trimmed = wanted.trim();
  if (trimmed === '') throw notFound();

  const exact =
    candidates.find((device) => device.name === trimmed) ??
    candidates.find((device) => device.name.toLowerCase() === trimmed.toLowerCase());
  if (exact) return { device: exact, otherMatches: [] };

  const suffix = hardwareSuffix(trimmed, cards);
  const byHardware = suffix === undefined ? [] : candidates.filter((device) => device.name.includes(suffix));
  const needle = trimmed.toLowerCase();
  const matches = byHardware.length > 0 ? byHardware : candidates.filter((device) => device.name.toLowerCase().includes(needle));
  if (matches.length === 0) throw notFound();
  return { device: matches[0], otherMatches: matches.slice(1).map((device) => device.name) };
}

/** Parses /proc/asound/cards; lines that do not look like a card header are skipped. */
export function parseSoundCards(procAsoundCards: string): SoundCard[] {
  const cards: SoundCard[] = [];
  for (const line of procAsoundCards.split('\n')) {
    const match = /^\s*(\d+)\s+\[([^\]\s]+)\s*\]:\s*(.*?)\s+-\s+(.*)$/.exec(line);
    if (match) cards.push({ index: Number(match[1]), id: match[2], driver: match[3], name: match[4].trim() });
  }
  return cards;
}
