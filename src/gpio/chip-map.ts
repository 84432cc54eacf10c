import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * BCM pin numbers (what the Pi's pinout shows) are not the kernel's sysfs GPIO numbers: since
 * kernel 6.6 the header's chip starts at a dynamic base (512 on a Pi 3/4, 571 on a Pi 5, 0 on
 * older kernels). The only reliable way is to find the chip by its label and add its base.
 */

/** One /sys/class/gpio/gpiochipN directory. */
export interface GpioChipInfo {
  /** Directory name, e.g. "gpiochip512". */
  name: string;
  label: string;
  base: number;
  ngpio: number;
}

/** Labels of the chips that drive the 40-pin header, and the boards they belong to. */
export const PI_HEADER_CHIP_LABELS: Readonly<Record<string, string>> = {
  'pinctrl-rp1': 'Raspberry Pi 5',
  'pinctrl-bcm2711': 'Raspberry Pi 4/400/CM4',
  'pinctrl-bcm2835': 'Raspberry Pi 1/2/3/Zero',
};

/**
 * The chip labels to look for: the one configured (`gpio.chipLabel`, for boards or emulators
 * without a Pi header, such as QEMU's `virt` machine with its PL061 "9030000.pl061"), else the
 * Raspberry Pi header chips.
 */
export function chipLabelsFor(configuredLabel: string | undefined): readonly string[] {
  return configuredLabel ? [configuredLabel] : Object.keys(PI_HEADER_CHIP_LABELS);
}

/** Why GPIO numbers cannot be worked out; the message is meant for the log and the status. */
export class GpioMappingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GpioMappingError';
  }
}

/**
 * Picks the header chip among `chips`: the first label of `labels` that is present wins (a Pi 5
 * also has the SoC's own chips, which are not on the header).
 */
export function findHeaderChip(chips: readonly GpioChipInfo[], labels: readonly string[] = Object.keys(PI_HEADER_CHIP_LABELS)): GpioChipInfo {
  for (const label of labels) {
    const chip = chips.find((candidate) => candidate.label === label);
    if (chip) return chip;
  }
  const seen = chips.length ? chips.map((chip) => `${chip.name} "${chip.label}"`).join(', ') : 'none';
  throw new GpioMappingError(`no GPIO chip labelled ${labels.map((label) => `"${label}"`).join(' or ')} (chips found: ${seen})`);
}

/** The sysfs GPIO number of BCM pin `bcm` on `chip`. */
export function bcmToSysfs(chip: GpioChipInfo, bcm: number): number {
  if (!Number.isInteger(bcm) || bcm < 0 || bcm >= chip.ngpio) {
    throw new GpioMappingError(`BCM ${bcm} is not a line of ${chip.name} "${chip.label}" (it has lines 0..${chip.ngpio - 1})`);
  }
  return chip.base + bcm;
}

/**
 * Reads every gpiochip under `<sysfsRoot>/class/gpio`. Throws a GpioMappingError that says what is
 * missing when the directory is absent (a kernel without the sysfs GPIO interface) or unreadable.
 */
export async function readGpioChips(sysfsRoot: string): Promise<GpioChipInfo[]> {
  const classDir = join(sysfsRoot, 'class', 'gpio');
  let entries: string[];
  try {
    entries = await readdir(classDir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new GpioMappingError(`sysfs GPIO is missing: ${classDir} does not exist (this kernel has no GPIO, or was built without CONFIG_GPIO_SYSFS)`);
    }
    throw new GpioMappingError(`cannot read ${classDir}: ${(error as Error).message}`);
  }
  const chips: GpioChipInfo[] = [];
  for (const name of entries.filter((entry) => /^gpiochip\d+$/.test(entry)).sort()) {
    const dir = join(classDir, name);
    try {
      const [label, base, ngpio] = await Promise.all(['label', 'base', 'ngpio'].map((file) => readFile(join(dir, file), 'utf8')));
      chips.push({ name, label: label.trim(), base: parseCount(base, join(dir, 'base')), ngpio: parseCount(ngpio, join(dir, 'ngpio')) });
    } catch (error) {
      if (error instanceof GpioMappingError) throw error;
      throw new GpioMappingError(`cannot read GPIO chip ${dir}: ${(error as Error).message}`);
    }
  }
  return chips;
}

function parseCount(text: string, path: string): number {
  const value = Number(text.trim());
  if (!Number.isInteger(value) || value < 0) throw new GpioMappingError(`${path} holds "${text.trim()}", not a number`);
  return value;
}

/** Where each named pin ended up: the chip, and the sysfs number of every BCM pin asked for. */
export interface PinMap<Name extends string> {
  chip: GpioChipInfo;
  /** Board the chip label belongs to, or the label itself for a chip we do not know (gpio-sim). */
  board: string;
  sysfs: Record<Name, number>;
}

/** Reads the chips under `sysfsRoot` and maps each named BCM pin to its sysfs number. */
export async function mapPins<Name extends string>(
  sysfsRoot: string,
  pins: Record<Name, number>,
  labels?: readonly string[],
): Promise<PinMap<Name>> {
  const chip = findHeaderChip(await readGpioChips(sysfsRoot), labels);
  const sysfs = {} as Record<Name, number>;
  for (const name of Object.keys(pins) as Name[]) sysfs[name] = bcmToSysfs(chip, pins[name]);
  return { chip, board: PI_HEADER_CHIP_LABELS[chip.label] ?? chip.label, sysfs };
}
