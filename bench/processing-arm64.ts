/**
 * The capture processing's CPU on arm64, for information (issue 13: "CPU of the processing for a
 * call <= 2% of one core here, with the arm64 figure from the emulated image reported for
 * information"). The workload of the CPU row of bench/echo-processing.ts (the shipped
 * CaptureProcessor: speexdsp's canceller and preprocessor, the residual echo gate, gain control,
 * the echo-delay tracker; 60 s of far-end speech with its echo, in 20 ms frames) runs twice in
 * the same run, in the same worker script: under qemu-user on the image's own Node with the
 * image's own arm64 addon and compiled code, and natively on this machine.
 *
 * No boot, no mounts, no binfmt change: the few files needed (Node, its libraries, the dynamic
 * loader, the builtins Debian's Node keeps in /usr/share/nodejs, /usr/lib/intercom) are copied
 * out of the built image's ext4 root partition with debugfs, or else out of the cached arm64
 * runtime root (image/rootfs.sh) and the arm64 package, into a temporary directory, removed
 * afterwards. The worker runs chrooted there (as root; otherwise in a user namespace) through a
 * copy of qemu-aarch64-static invoked explicitly: qemu's own library prefix (-L) does not
 * translate the statx calls Node resolves modules with.
 *
 * Emulation is not a Raspberry Pi: qemu-user translates every arm64 instruction (TCG), which
 * costs a large factor; the emulated figure bounds nothing on a Pi and is printed for information.
 *
 *     npx tsx bench/processing-arm64.ts
 *
 * Where the arm64 build comes from, first found: INTERCOM_IMAGE (the appliance build's image),
 * build/image/intercom-<version>-rpi-arm64.img; or the newest cached runtime root
 * (INTERCOM_CACHE_DIR, default /var/cache/intercom-image) with INTERCOM_ARM64_DEB or
 * build/deb/intercom_<version>_arm64.deb. None of them: the section says it was skipped.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readSync, readdirSync, rmSync, statSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { cpuWorkload } from './echo-processing.js';

const run = promisify(execFile);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const WORKER = path.join(repo, 'bench', 'support', 'capture-processing-worker.mjs');
const GUEST_APP = '/usr/lib/intercom';
const GUEST_MODULE = `${GUEST_APP}/dist/audio-processing/capture-processor.js`;
/** What the image's Node needs to run the worker: itself, its libraries and loader, its externalised builtins; and the app. */
const GUEST_SYSTEM_PATHS = ['/usr/bin/node', '/usr/lib/aarch64-linux-gnu', '/usr/lib/ld-linux-aarch64.so.1', '/lib', '/etc/ld.so.cache', '/usr/share/nodejs'];
/** Where the worker, its signals and the emulator go inside the guest's root. */
const GUEST_BENCH = '/intercom-bench';
const AUDIO_SECONDS = 60;
const RUNS = 3;
/** A run under emulation that takes longer than this has hung. */
const EMULATED_TIMEOUT_MS = 20 * 60_000;

type Arm64Source = { kind: 'image'; image: string } | { kind: 'runtime root and package'; rootfs: string; deb: string };

interface WorkerResult {
  node: string;
  arch: string;
  audioSeconds: number;
  runs: { cpuSeconds: number; wallSeconds: number; erleDb: number | null; converged: boolean }[];
}

/** Where the arm64 build is, or why there is none. */
export function findArm64Source(env: NodeJS.ProcessEnv = process.env): Arm64Source | { missing: string } {
  const version = (JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')) as { version: string }).version;
  const image = env.INTERCOM_IMAGE || path.join(repo, 'build', 'image', `intercom-${version}-rpi-arm64.img`);
  if (existsSync(image)) return { kind: 'image', image };
  const cacheDir = env.INTERCOM_CACHE_DIR || path.join(env.XDG_CACHE_HOME || '/var/cache', 'intercom-image');
  const prefix = `rootfs-runtime-${env.INTERCOM_SUITE || 'trixie'}-arm64-`;
  const roots = existsSync(cacheDir)
    ? readdirSync(cacheDir)
        .filter((name) => name.startsWith(prefix) && name.endsWith('.tar'))
        .map((name) => path.join(cacheDir, name))
        .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)
    : [];
  const deb = env.INTERCOM_ARM64_DEB || path.join(repo, 'build', 'deb', `intercom_${version}_arm64.deb`);
  if (roots[0] && existsSync(deb)) return { kind: 'runtime root and package', rootfs: roots[0], deb };
  return {
    missing:
      `no image (${image}) and ${roots[0] ? `no arm64 package (${deb})` : `no cached arm64 runtime root (${cacheDir}/${prefix}*.tar)`}; ` +
      'build them with npm run image (as root), or point INTERCOM_IMAGE at an image',
  };
}

/** Byte offset of the image's root partition (the first Linux partition of its MBR). */
function rootPartitionOffset(image: string): number {
  const mbr = Buffer.alloc(512);
  const fd = openSync(image, 'r');
  try {
    readSync(fd, mbr, 0, 512, 0);
  } finally {
    closeSync(fd);
  }
  if (mbr.readUInt16LE(510) !== 0xaa55) throw new Error(`${image} has no MBR partition table`);
  for (let entry = 0; entry < 4; entry += 1) {
    const at = 446 + entry * 16;
    if (mbr[at + 4] === 0x83) return mbr.readUInt32LE(at + 8) * 512;
  }
  throw new Error(`${image} has no Linux root partition`);
}

/** Copies the guest's files into `root`: from the image's ext4 partition (debugfs, read-only), or from the runtime root's tar and the package. */
async function unpackGuest(source: Arm64Source, root: string): Promise<void> {
  if (source.kind === 'image') {
    const device = `${source.image}?offset=${rootPartitionOffset(source.image)}`;
    const commands: string[] = [];
    for (const guestPath of [...GUEST_SYSTEM_PATHS, GUEST_APP]) {
      const parent = path.join(root, path.dirname(guestPath));
      await mkdir(parent, { recursive: true });
      // rdump copies directories, files and symbolic links as they are.
      commands.push(`rdump ${guestPath} ${parent}`);
    }
    const commandFile = path.join(root, '..', 'debugfs.commands');
    await writeFile(commandFile, `${commands.join('\n')}\n`);
    // -c: catastrophic mode, read-only without the bitmaps (faster); debugfs never writes here.
    await run('debugfs', ['-c', '-f', commandFile, device], { maxBuffer: 64 * 1024 * 1024 });
  } else {
    await mkdir(root, { recursive: true });
    const members = GUEST_SYSTEM_PATHS.map((guestPath) => `.${guestPath}`);
    await run('tar', ['-C', root, '-xf', source.rootfs, '--no-same-owner', ...members], { maxBuffer: 64 * 1024 * 1024 });
    await run('dpkg-deb', ['-x', source.deb, root]);
  }
  for (const needed of ['/usr/bin/node', GUEST_MODULE, '/usr/lib/ld-linux-aarch64.so.1']) {
    if (!existsSync(path.join(root, needed))) throw new Error(`${needed} is not in the arm64 build taken from ${describeSource(source)}`);
  }
}

function describeSource(source: Arm64Source): string {
  return source.kind === 'image' ? source.image : `${source.rootfs} + ${source.deb}`;
}

/** The worker's environment: nothing of this process's Node options (tsx) leaks into the guest. */
function cleanEnv(): NodeJS.ProcessEnv {
  return { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: os.tmpdir(), LANG: 'C.UTF-8' };
}

/** The worker being run, for an interrupted bench to stop. */
let runningWorker: ChildProcess | undefined;

async function runWorker(command: string, args: string[], timeoutMs: number): Promise<WorkerResult> {
  const running = run(command, args, { cwd: repo, env: cleanEnv(), timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1024 * 1024 });
  runningWorker = running.child;
  try {
    const { stdout } = await running;
    return JSON.parse(stdout.trim().split('\n').at(-1)!) as WorkerResult;
  } finally {
    runningWorker = undefined;
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const share = (result: WorkerResult) => median(result.runs.map((entry) => entry.cpuSeconds)) / result.audioSeconds;
const percent = (value: number) => `${(value * 100).toFixed(value < 0.1 ? 2 : 1)}%`;
const erle = (result: WorkerResult) => {
  const value = result.runs.at(-1)!.erleDb;
  return value === null ? 'not measurable' : `${value.toFixed(1)} dB`;
};

/** This machine's qemu-aarch64-static, or null. */
function findQemu(): string | null {
  for (const directory of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const candidate = path.join(directory || '.', 'qemu-aarch64-static');
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

export async function runProcessingArm64Bench(): Promise<void> {
  console.log('## Capture processing on arm64, emulated (for information)\n');
  const source = findArm64Source();
  if ('missing' in source) {
    console.log(`skipped: no arm64 root (${source.missing}).\n`);
    return;
  }
  const qemu = findQemu();
  if (!qemu) {
    console.log('skipped: qemu-aarch64-static is missing (Debian package qemu-user-static).\n');
    return;
  }
  const work = await mkdtemp(path.join(os.tmpdir(), 'intercom-arm64-bench-'));
  // A quarter of a gigabyte of copied files: gone also when the bench is interrupted.
  const interrupted = (signal: NodeJS.Signals) => {
    runningWorker?.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
    process.kill(process.pid, signal);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    const root = path.join(work, 'root');
    const unpackStarted = Date.now();
    await unpackGuest(source, root);
    const unpackSeconds = (Date.now() - unpackStarted) / 1000;
    const bench = path.join(root, GUEST_BENCH);
    await mkdir(bench);
    await copyFile(qemu, path.join(bench, 'qemu-aarch64-static'));
    await copyFile(WORKER, path.join(bench, 'worker.mjs'));
    const workload = await cpuWorkload(AUDIO_SECONDS);
    await writeFile(path.join(bench, 'mic.raw'), Buffer.from(workload.mic.buffer, workload.mic.byteOffset, workload.mic.byteLength));
    await writeFile(path.join(bench, 'speaker.raw'), Buffer.from(workload.speaker.buffer, workload.speaker.byteOffset, workload.speaker.byteLength));

    const native = await runWorker(
      process.execPath,
      ['--import', 'tsx', WORKER, path.join(repo, 'src', 'audio-processing', 'capture-processor.ts'), path.join(bench, 'mic.raw'), path.join(bench, 'speaker.raw'), String(RUNS)],
      10 * 60_000,
    );
    const guestCommand = [`${GUEST_BENCH}/qemu-aarch64-static`, '/usr/bin/node', `${GUEST_BENCH}/worker.mjs`, GUEST_MODULE, `${GUEST_BENCH}/mic.raw`, `${GUEST_BENCH}/speaker.raw`, String(RUNS)];
    const emulated =
      process.getuid?.() === 0
        ? await runWorker('chroot', [root, ...guestCommand], EMULATED_TIMEOUT_MS)
        : await runWorker('unshare', ['--map-root-user', `--root=${root}`, ...guestCommand], EMULATED_TIMEOUT_MS);
    if (emulated.arch !== 'arm64') throw new Error(`the emulated worker reports ${emulated.arch}, not arm64`);
    const qemuVersion = (await run(qemu, ['--version'])).stdout.split('\n')[0];

    const builtAt = new Date(statSync(source.kind === 'image' ? source.image : source.deb).mtimeMs).toISOString().slice(0, 16);
    console.log('The same workload as the CPU row of "Echo and capture processing" (the shipped processing over');
    console.log(`${AUDIO_SECONDS} s of far-end speech with its echo, 20 ms frames, median of ${RUNS} runs): natively on this`);
    console.log(`machine (${os.cpus()[0]?.model ?? 'unknown CPU'}, this checkout's code) and under ${qemuVersion}`);
    console.log(`(user mode, TCG) on the image's own Node, addon and compiled code (${describeSource(source)},`);
    console.log(`built ${builtAt}Z; its files copied out in ${unpackSeconds.toFixed(0)} s). **Emulation is not a Raspberry Pi**: every`);
    console.log('arm64 instruction is translated, which costs a large factor; the arm64 figure is for information');
    console.log('and says nothing of a Pi beyond that the arm64 build runs the processing and reaches the same ERLE.\n');
    console.log(`| run | Node | CPU per call: share of one core | runs (CPU s per ${AUDIO_SECONDS} s of audio) | wall time / audio time | ERLE at the end |`);
    console.log('|---|---|---|---|---|---|');
    for (const [label, result] of [
      ['x86-64, native', native],
      ['arm64, emulated (qemu-user)', emulated],
    ] as const) {
      const runs = result.runs.map((entry) => entry.cpuSeconds.toFixed(2)).join(', ');
      const wall = median(result.runs.map((entry) => entry.wallSeconds)) / result.audioSeconds;
      console.log(`| ${label} | ${result.node} | **${percent(share(result))}** | ${runs} | ${wall.toFixed(3)} | ${erle(result)} |`);
    }
    console.log(`| emulated / native | | **${(share(emulated) / share(native)).toFixed(1)}x** | | | |`);
    console.log('');
  } catch (error) {
    console.log(`FAILED: ${(error as Error).message}\n`);
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    await rm(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await runProcessingArm64Bench();
