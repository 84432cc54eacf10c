import { fileURLToPath, pathToFileURL } from 'node:url';
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { loadConfig } from './config/load.js';
import { ConfigError } from './config/validate.js';
import type { IntercomConfig } from './config/schema.js';
import { createLogger, type Logger } from './logging/logger.js';
import { UdpTransport } from './net/udp-transport.js';
import { CallAudio } from './streaming/call-audio.js';
import { openAudioBackend } from './streaming/audio-backend-loader.js';
import type { AudioBackend } from './audio/audio-backend.js';
import { createUnitServices } from './signaling/unit-services.js';
import { buildApp } from './signaling/app.js';
import { GpioService } from './gpio/gpio-service.js';
import { notifyReady, notifyStopping } from './system/sd-notify.js';
import { startWatchdog } from './system/watchdog.js';
import { callControlForService } from './gpio/call-service-control.js';
import { loadSiteSecret } from './security/site-secret.js';

/**
 * The composition root: config -> logger -> audio devices -> media socket -> calls, peers and
 * users -> HTTP. Everything else receives its collaborators from here.
 */

const WEB_ROOT = fileURLToPath(new URL('../web', import.meta.url));
/** sysexits(3) EX_CONFIG: systemd shows it, and a supervisor can tell bad config from a crash. */
const EXIT_BAD_CONFIG = 78;

async function readConfig(): Promise<IntercomConfig> {
  try {
    return await loadConfig();
  } catch (error) {
    const message = error instanceof ConfigError ? error.message : `cannot load configuration: ${(error as Error).message}`;
    // No logger exists yet (its level is itself configuration), so write pino's shape by hand.
    process.stdout.write(`${JSON.stringify({ level: 60, time: Date.now(), name: 'intercom', msg: `refusing to start: ${message}`, key: (error as ConfigError).key })}\n`);
    process.stderr.write(`intercom: refusing to start: ${message}\n`);
    process.exit(EXIT_BAD_CONFIG);
  }
}

async function loadAudioBackend(logger: Logger, choice: IntercomConfig['audio']['backend']): Promise<AudioBackend | null> {
  try {
    return await openAudioBackend(logger, choice);
  } catch (error) {
    logger.warn({ err: error }, 'audio backend unavailable; the unit runs without sound');
    return null;
  }
}

export async function startService(config: IntercomConfig, logger: Logger) {
  // First, so an unusable secret stops the start before any device or port is opened.
  const siteSecret = await loadSiteSecret({ configured: config.site.secret, dataDir: config.dataDir, logger });
  const backend = await loadAudioBackend(logger, config.audio.backend);
  const callAudio = new CallAudio({
    settings: { ...config.audio, minDelayMs: config.jitter.minMs, maxDelayMs: config.jitter.maxMs },
    captureDevice: config.audio.captureDevice,
    playbackDevice: config.audio.playbackDevice,
    backend,
    logger: logger.child({ module: 'audio' }),
  });
  const transport = await UdpTransport.bind({
    port: config.audio.udpPort,
    host: config.http.host,
    onDatagram: (datagram, from) => callAudio.onDatagram(datagram, from),
    onError: (error) => logger.warn({ err: error }, 'media socket error'),
  }).catch((error: Error) => {
    throw new Error(`cannot listen on UDP port ${config.audio.udpPort} (audio.udpPort): ${error.message}`);
  });
  callAudio.attachTransport(transport);
  await callAudio.openDevices();

  let gpio: GpioService | undefined;
  const services = await createUnitServices(config, {
    callMedia: callAudio,
    logger,
    siteSecret,
    webRoot: existsSync(WEB_ROOT) ? WEB_ROOT : null,
    gpioStatus: () => gpio?.status() ?? null,
    openDoor: () => gpio?.pulseDoor() ?? { ok: false, code: 'gpio-unavailable', reason: 'GPIO is not set up' },
  });
  // The CALL button calls from the first user registered on this unit (a door unit has one).
  gpio = new GpioService({
    config: config.gpio,
    calls: callControlForService(services.calls, () => services.users.list()[0]?.name),
    logger: logger.child({ module: 'gpio' }),
  });
  // The panel sees button, LED and relay changes as they happen (the `gpio` event), not at its next status poll.
  const app = await buildApp({ ...services.appDeps, gpio });
  await app.listen({ host: config.http.host, port: config.http.port }).catch((error: Error) => {
    throw new Error(`cannot listen on HTTP ${config.http.host}:${config.http.port} (http.port): ${error.message}`);
  });
  const httpPort = (app.server.address() as AddressInfo).port;
  await services.start({ httpPort });
  const gpioStatus = await gpio.start();
  const { passwordSet } = await services.people.describe(undefined);
  if (!passwordSet) {
    logger.warn(
      { file: services.people.password.file },
      'no panel password is set, so nobody can log in to the panel or the API: set one with "sudo intercom password", or panel_password= in intercom.txt on the boot partition',
    );
  }
  logger.info(
    { unit: config.unit.name, httpPort, udpPort: transport.localPort, audio: callAudio.audioAvailable, gpio: gpioStatus.available, format: config.audio.format },
    'intercom ready',
  );

  // READY=1 only now: HTTP and UDP listen, and audio is open or known absent.
  await notifyReady(`${config.unit.name}: audio ${callAudio.audioAvailable ? 'on' : 'unavailable'}, HTTP ${httpPort}`).catch((error) =>
    logger.warn({ err: error }, 'could not notify systemd'),
  );
  const watchdog = startWatchdog({ onError: (error) => logger.warn({ err: error }, 'watchdog ping failed') });

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      logger.info('stopping: ending any call, closing devices');
      await notifyStopping().catch(() => undefined);
      watchdog.stop();
      await services.stop();
      await gpio?.stop();
      await app.close();
      await callAudio.close();
      await transport.close();
      await backend?.close();
    })());
  return { app, httpPort, udpPort: transport.localPort, stop };
}

/** Runs the service until SIGTERM/SIGINT: what systemd starts (also `intercom serve`). */
export async function runService(): Promise<void> {
  const config = await readConfig();
  const logger = createLogger({ level: config.log.level, name: 'intercom' });
  process.on('uncaughtException', (error) => {
    logger.fatal({ err: error }, 'uncaught exception; exiting so systemd restarts the service');
    logger.flush();
    process.exit(1);
  });
  process.on('unhandledRejection', (error) => logger.error({ err: error }, 'unhandled promise rejection'));

  let service: Awaited<ReturnType<typeof startService>>;
  try {
    service = await startService(config, logger);
  } catch (error) {
    logger.fatal({ err: error }, (error as Error).message);
    logger.flush();
    process.exit(1);
  }
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      const forceExit = setTimeout(() => process.exit(1), 10_000);
      forceExit.unref();
      void service.stop().then(
        () => {
          logger.info({ signal }, 'stopped');
          logger.flush();
          process.exit(0);
        },
        (error) => {
          logger.error({ err: error }, 'error while stopping');
          process.exit(1);
        },
      );
    });
  }
}

const startedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (startedDirectly) await runService();
