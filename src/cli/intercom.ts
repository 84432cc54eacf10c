#!/usr/bin/env node
import { Command, InvalidArgumentError, Option } from 'commander';
import { WIRE_FORMATS, wireFormatFrameProblem, type WireFormatName } from '../config/schema.js';
import { createLogger, type Logger } from '../logging/logger.js';
import { runSend } from './send-command.js';
import { runRecv } from './recv-command.js';
import { runDevices } from './devices-command.js';
import { runPassword } from './password-command.js';
import { runSelfTest } from './selftest-command.js';
import { runSiteInvite, runSiteJoin, runSiteLeave, runSiteRemove, runSiteStatus } from './site-command.js';
import { logFatal, UsageError } from './command-runtime.js';
import { AUDIO_BACKENDS, type AudioBackendChoice } from '../streaming/audio-backend-loader.js';

const DEFAULT_PORT = 40000;

function integer(name: string, min: number, max: number) {
  return (raw: string): number => {
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}`);
    }
    return value;
  };
}

function positive(name: string) {
  return (raw: string): number => {
    const value = Number(raw);
    if (!Number.isFinite(value) || value <= 0) throw new InvalidArgumentError(`${name} must be a positive number`);
    return value;
  };
}

const formatOption = () =>
  new Option('--format <format>', 'wire format').choices([...WIRE_FORMATS]).default('rtp-opus' satisfies WireFormatName);
const frameOption = () =>
  new Option('--frame-ms <ms>', 'frame duration (the seed format: 20 only)').choices(['10', '20']).default(20).argParser((raw) => {
    if (raw !== '10' && raw !== '20') throw new InvalidArgumentError('--frame-ms must be 10 or 20');
    return Number(raw);
  });

/** Refuses a --format/--frame-ms pair the format cannot carry, before anything is opened. */
const backendOption = () =>
  new Option('--backend <layer>', 'sound-device layer: auto (the ALSA engine where built, else naudiodon), alsa, naudiodon')
    .choices([...AUDIO_BACKENDS])
    .default('auto' satisfies AudioBackendChoice);

function checkFormatAndFrame(flags: { format: WireFormatName; frameMs: number }): void {
  const problem = wireFormatFrameProblem(flags.format, flags.frameMs);
  if (problem) throw new UsageError(`--format ${flags.format} cannot be used with --frame-ms ${flags.frameMs}: ${problem}`);
}

function commandLogger(verbose: boolean): Logger {
  // stdout carries the command's output, so logs go to stderr.
  return createLogger({ level: verbose ? 'debug' : 'warn', name: 'intercom', destination: 2 });
}

async function guarded(action: (logger: Logger) => Promise<void>, verbose: boolean): Promise<void> {
  const logger = commandLogger(verbose);
  try {
    await action(logger);
    logger.flush();
  } catch (error) {
    logFatal(logger, error);
    logger.flush();
    process.exitCode = 1;
  }
}

const program = new Command('intercom')
  .description(
    'pi-intercom: LAN intercom unit. Test commands for use over ssh; the service itself runs under systemd (intercom serve).',
  )
  .showHelpAfterError();

program
  .command('send')
  .description('send audio to a unit or to `intercom recv`: a 440 Hz tone by default, a WAV file, or a microphone')
  .argument('[host]', 'destination address', '127.0.0.1')
  .argument('[port]', 'destination UDP port', integer('port', 1, 65535), DEFAULT_PORT)
  .addOption(formatOption())
  .addOption(frameOption())
  .option('--bitrate <bit/s>', 'Opus bitrate', integer('--bitrate', 6000, 510000), 32000)
  .option('--complexity <0-10>', 'Opus encoder complexity (CPU against quality)', integer('--complexity', 0, 10), 1)
  .option('--wav <file>', 'send this WAV file once (any rate, depth and channel count)')
  .option('--mic [device]', 'send from a capture device (ALSA name or part of its name; default: the default device)')
  .option('--processing', "with --mic: the unit's noise suppression and gain control on the microphone (no echo cancellation: nothing plays here)", false)
  .addOption(backendOption())
  .option('--tone <Hz>', 'frequency of the test tone', positive('--tone'), 440)
  .option('--seconds <n>', 'stop after n seconds (default: until interrupted)', positive('--seconds'))
  .option('--json', 'print one JSON object per second instead of a status line', false)
  .option('-v, --verbose', 'log details to stderr', false)
  .addHelpText(
    'after',
    '\nPrints a status line every second and a summary when stopped (Ctrl-C, --seconds, or the end of --wav).\n' +
      'Examples:\n  intercom send 192.168.1.100\n  intercom send 192.168.1.100 40000 --wav hello.wav\n  intercom send 10.0.0.7 --mic USB --seconds 30\n  intercom send 10.0.0.7 --mic USB --processing',
  )
  .action(async (host: string, port: number, flags) => {
    if (flags.wav && flags.mic !== undefined) program.error('error: use either --wav or --mic, not both');
    if (flags.processing && flags.mic === undefined) program.error('error: --processing works on the microphone: give --mic too');
    await guarded(async (logger) => {
      checkFormatAndFrame(flags);
      await runSend({ host, port, ...flags }, logger);
    }, flags.verbose);
  });

program
  .command('recv')
  .description('receive audio on a UDP port and play it, or write it to a WAV file')
  .argument('[port]', 'UDP port to listen on (0: any free port)', integer('port', 0, 65535), DEFAULT_PORT)
  .addOption(formatOption())
  .addOption(frameOption())
  .option('--bitrate <bit/s>', 'Opus bitrate (decoder hint)', integer('--bitrate', 6000, 510000), 32000)
  .option('--device <device>', 'playback device (ALSA name or part of its name)')
  .addOption(backendOption())
  .option('--wav <file>', 'write what is received to this WAV file instead of playing it')
  .option('--host <address>', 'address to listen on', '0.0.0.0')
  .option('--min-delay <ms>', 'lowest playout delay (raised a frame by itself while losses need it for FEC)', integer('--min-delay', 0, 1000), 5)
  .option('--max-delay <ms>', 'highest playout delay', integer('--max-delay', 20, 2000), 400)
  .option('--seconds <n>', 'stop after n seconds (default: until interrupted)', positive('--seconds'))
  .option('--json', 'print one JSON object per second instead of a status line', false)
  .option('-v, --verbose', 'log details to stderr', false)
  .addHelpText(
    'after',
    '\nPrints packets, loss, jitter and playout delay every second and a summary when stopped.\n' +
      'Examples:\n  intercom recv\n  intercom recv 40000 --device USB\n  intercom recv 40000 --wav received.wav --seconds 10',
  )
  .action(async (port: number, flags) => {
    await guarded(async (logger) => {
      checkFormatAndFrame(flags);
      await runRecv({ port, ...flags, minDelayMs: flags.minDelay, maxDelayMs: flags.maxDelay }, logger);
    }, flags.verbose);
  });

program
  .command('devices')
  .description('list the audio devices this machine offers')
  .option('--json', 'print JSON', false)
  .addOption(backendOption())
  .option('-v, --verbose', 'log details to stderr', false)
  .action(async (flags) => {
    await guarded((logger) => runDevices({ json: flags.json, backend: flags.backend }, logger), flags.verbose);
  });

program
  .command('password')
  .description('set the panel password people log in with (stored as an scrypt hash in the data directory)')
  .option('--data-dir <dir>', 'data directory (default: dataDir from the unit\'s configuration)')
  .option('-v, --verbose', 'log details to stderr', false)
  .addHelpText(
    'after',
    '\nAsks twice on a terminal; otherwise reads one line from stdin. At least 8 characters.\n' +
      'The running service uses the new password from the next login on; sessions of the old one end.\n' +
      "Examples:\n  sudo intercom password\n  echo 'correct horse battery' | sudo intercom password",
  )
  .action(async (flags) => {
    await guarded(() => runPassword({ dataDir: flags.dataDir }), flags.verbose);
  });

const site = program
  .command('site')
  .description('this unit\'s site: hand out a one-time join code, join another unit\'s site with its code, leave, remove a unit')
  .addHelpText(
    'after',
    '\nThese ask the running service on this unit (run them with sudo: they read its local API token).\n' +
      'Examples:\n  sudo intercom site invite            (on a unit of the site: prints a 6-digit code, valid 5 minutes)\n' +
      '  sudo intercom site join 123456 hall.local   (on the new unit)\n  sudo intercom site remove Garage   (the site\'s secret is rotated)\n  sudo intercom site status',
  );
const siteOptions = (command: Command) =>
  command
    .option('--data-dir <dir>', 'data directory (default: dataDir from the unit\'s configuration)')
    .option('--port <port>', 'the service\'s HTTP port (default: http.port from the configuration)', integer('--port', 1, 65535))
    .option('--json', 'print one JSON object', false)
    .option('-v, --verbose', 'log details to stderr', false);
siteOptions(site.command('invite').description('print a new one-time code another unit joins this unit\'s site with (6 digits, 5 minutes, 3 tries)')).action(
  async (flags) => {
    await guarded(() => runSiteInvite(flags), flags.verbose);
  },
);
siteOptions(
  site
    .command('join')
    .argument('<code>', 'the 6-digit code the other unit shows')
    .argument('[host]', 'that unit\'s name or address, optionally :port (default: ask the units found on the LAN)')
    .description('join the site of the unit that shows CODE: this unit receives the site secret and uses it at once'),
).action(async (code: string, host: string | undefined, flags) => {
  await guarded(() => runSiteJoin(code, host, flags), flags.verbose);
});
siteOptions(site.command('leave').description('leave the site: this unit makes a new secret of its own')).action(async (flags) => {
  await guarded(() => runSiteLeave(flags), flags.verbose);
});
siteOptions(
  site
    .command('remove')
    .argument('<unit>', 'the unit to remove: its name or id (as "intercom site status" lists them)')
    .description('remove a unit from the site: the site\'s secret is rotated and handed to the other units; units that are offline must join again with a code'),
).action(async (unit: string, flags) => {
  await guarded(() => runSiteRemove(unit, flags), flags.verbose);
});
siteOptions(site.command('status').description('where the site secret comes from, the open code, and units on the LAN this unit does not trust')).action(
  async (flags) => {
    await guarded(() => runSiteStatus(flags), flags.verbose);
  },
);

program
  .command('selftest')
  .description('acoustic self-test: play a sweep and a hiss through the speaker, record the microphone, and report what was heard')
  .option('--mic <device>', 'capture device (ALSA name or part of its name)', 'default')
  .option('--speaker <device>', 'playback device (ALSA name or part of its name)', 'default')
  .option('--json', 'print the report as one JSON object', false)
  .option('-v, --verbose', 'log details to stderr', false)
  .addHelpText(
    'after',
    '\nTakes about 6 s. Reports whether the speaker was heard, whether the microphone is live, the echo\n' +
      'delay (including the sound card\'s buffers) and coupling, the noise floor, whether the echo\n' +
      'canceller converges, and what to fix. Exit code 1 when the speaker was not heard or the mic is dead.\n' +
      'Run it with the service stopped (it holds the sound card):\n  sudo systemctl stop intercom; intercom selftest --mic USB --speaker USB',
  )
  .action(async (flags) => {
    await guarded(async (logger) => {
      await runSelfTest({ mic: flags.mic, speaker: flags.speaker, json: flags.json }, logger);
    }, flags.verbose);
  });

program
  .command('serve')
  .description('run the intercom service (what systemd starts): HTTP API, signaling, audio, GPIO')
  .action(async () => {
    const { runService } = await import('../main.js');
    await runService();
  });

await program.parseAsync(process.argv);
