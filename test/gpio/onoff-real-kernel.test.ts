import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

// The onoff adapter against a real Linux kernel's sysfs GPIO: on this x86-64 build machine
// (no GPIO, and Debian's kernels lack gpio-sim) the script builds gpio-sim from the Debian kernel
// source, boots that kernel in QEMU and runs test/gpio/onoff-adapter.test.ts inside it, where
// simulated lines raise real edge interrupts. On a Raspberry Pi the adapter test runs directly.

const SCRIPT = fileURLToPath(new URL('./run-onoff-adapter-in-vm.sh', import.meta.url));
const root = process.getuid?.() === 0;
const qemu = existsSync('/usr/bin/qemu-system-x86_64');
const x86 = process.arch === 'x64';
const skip = !root ? 'needs root' : !qemu ? 'needs qemu-system-x86 (apt)' : !x86 ? 'only on x86-64 build machines (a Pi tests the adapter on its own GPIO)' : null;

(skip ? test.skip : test)(`the onoff adapter passes against a real kernel's GPIO (gpio-sim in QEMU)${skip ? ` (skipped: ${skip})` : ''}`, async (t) => {
  t.timeout(20 * 60 * 1000);
  const { stdout } = await promisify(execFile)('sh', [SCRIPT], { maxBuffer: 64 * 1024 * 1024, timeout: 19 * 60 * 1000 }).catch((error) => {
    t.log(String(error.stdout ?? '').slice(-4000));
    throw error;
  });
  const summary = stdout.match(/(\d+) tests? passed/);
  t.truthy(summary, stdout.slice(-2000));
  t.true(Number(summary![1]) >= 3, `in the VM: ${summary![0]}`);
  t.notRegex(stdout, /\d+ tests? failed/);
  t.regex(stdout, /left behind: exported \[\s*\]/, 'every pin was unexported');
});
