import { writeFile } from 'node:fs/promises';
import test from 'ava';
import { bcmToSysfs, chipLabelsFor, findHeaderChip, GpioMappingError, mapPins, readGpioChips } from '../../src/gpio/chip-map.js';
import { BOARDS, fakeSysfs } from '../support/fake-gpio.js';

test('Pi 4 on a 6.6+ kernel: pinctrl-bcm2711 at base 512, BCM 17 is gpio529', async (t) => {
  const sysfs = await fakeSysfs(BOARDS.pi4Kernel66);
  t.teardown(sysfs.cleanup);
  const map = await mapPins(sysfs.root, { button: 17, led: 27 });
  t.is(map.chip.label, 'pinctrl-bcm2711');
  t.is(map.board, 'Raspberry Pi 4/400/CM4');
  t.deepEqual(map.sysfs, { button: 529, led: 539 });
});

test('Pi 5 on a 6.6+ kernel: the header is pinctrl-rp1 at base 571 (not the first chip), BCM 17 is gpio588', async (t) => {
  const sysfs = await fakeSysfs(BOARDS.pi5Kernel66);
  t.teardown(sysfs.cleanup);
  const map = await mapPins(sysfs.root, { button: 17 });
  t.is(map.chip.name, 'gpiochip571');
  t.is(map.board, 'Raspberry Pi 5');
  t.deepEqual(map.sysfs, { button: 588 });
});

test('Pi 3 on an older kernel: pinctrl-bcm2835 at base 0, BCM 17 is gpio17', async (t) => {
  const sysfs = await fakeSysfs(BOARDS.pi3OldKernel);
  t.teardown(sysfs.cleanup);
  const map = await mapPins(sysfs.root, { button: 17 });
  t.is(map.board, 'Raspberry Pi 1/2/3/Zero');
  t.deepEqual(map.sysfs, { button: 17 });
});

test('the base is read, never assumed: an unusual base is followed', async (t) => {
  const sysfs = await fakeSysfs([{ name: 'gpiochip600', label: 'pinctrl-bcm2711', base: 600, ngpio: 58 }]);
  t.teardown(sysfs.cleanup);
  t.deepEqual((await mapPins(sysfs.root, { button: 5 })).sysfs, { button: 605 });
});

test('no sysfs GPIO at all: a clear error that names the missing directory', async (t) => {
  const sysfs = await fakeSysfs(null);
  t.teardown(sysfs.cleanup);
  const error = await t.throwsAsync(mapPins(sysfs.root, { button: 17 }), { instanceOf: GpioMappingError });
  t.regex(error!.message, /^sysfs GPIO is missing: .*\/class\/gpio does not exist/);
  t.true(error!.message.includes(sysfs.root));
});

test('sysfs GPIO without a Raspberry Pi chip: the error lists what was found', async (t) => {
  const sysfs = await fakeSysfs([{ name: 'gpiochip512', label: 'INT34C6:00', base: 512, ngpio: 360 }]);
  t.teardown(sysfs.cleanup);
  const error = await t.throwsAsync(mapPins(sysfs.root, { button: 17 }), { instanceOf: GpioMappingError });
  t.is(error!.message, 'no GPIO chip labelled "pinctrl-rp1" or "pinctrl-bcm2711" or "pinctrl-bcm2835" (chips found: gpiochip512 "INT34C6:00")');
});

test('a BCM number past the chip\'s lines is refused', (t) => {
  const chip = BOARDS.pi3OldKernel[0];
  t.is(bcmToSysfs(chip, 53), 53);
  t.throws(() => bcmToSysfs(chip, 54), { instanceOf: GpioMappingError, message: /BCM 54 is not a line of gpiochip0 "pinctrl-bcm2835" \(it has lines 0\.\.53\)/ });
  t.throws(() => bcmToSysfs(chip, -1), { instanceOf: GpioMappingError });
});

test('other chip labels can be asked for (a gpio-sim chip in the QEMU image)', async (t) => {
  const sysfs = await fakeSysfs([...BOARDS.pi4Kernel66, { name: 'gpiochip580', label: 'intercom-sim', base: 580, ngpio: 8 }]);
  t.teardown(sysfs.cleanup);
  const chips = await readGpioChips(sysfs.root);
  t.is(findHeaderChip(chips, ['intercom-sim']).base, 580);
  const map = await mapPins(sysfs.root, { button: 3 }, ['intercom-sim']);
  t.is(map.board, 'intercom-sim');
  t.deepEqual(map.sysfs, { button: 583 });
});

test('gpio.chipLabel replaces the Pi header chips: QEMU virt\'s PL061 line 3 is gpio515', async (t) => {
  const sysfs = await fakeSysfs([{ name: 'gpiochip512', label: '9030000.pl061', base: 512, ngpio: 8 }]);
  t.teardown(sysfs.cleanup);
  const map = await mapPins(sysfs.root, { callButton: 3, answerButton: 4 }, chipLabelsFor('9030000.pl061'));
  t.is(map.board, '9030000.pl061');
  t.deepEqual(map.sysfs, { callButton: 515, answerButton: 516 });
  // Without the setting only a Pi header chip will do.
  t.deepEqual(chipLabelsFor(undefined), ['pinctrl-rp1', 'pinctrl-bcm2711', 'pinctrl-bcm2835']);
  await t.throwsAsync(mapPins(sysfs.root, { callButton: 3 }, chipLabelsFor(undefined)), { instanceOf: GpioMappingError, message: /chips found: gpiochip512 "9030000.pl061"/ });
});

test('a chip with an unreadable base is reported, not guessed', async (t) => {
  const sysfs = await fakeSysfs([{ name: 'gpiochip512', label: 'pinctrl-bcm2711', base: 512, ngpio: 58 }]);
  t.teardown(sysfs.cleanup);
  await writeFile(`${sysfs.root}/class/gpio/gpiochip512/base`, 'garbage\n');
  await t.throwsAsync(readGpioChips(sysfs.root), { instanceOf: GpioMappingError, message: /base holds "garbage", not a number/ });
});
