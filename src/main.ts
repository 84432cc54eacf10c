import { pathToFileURL } from 'node:url';
import { loadConfig } from './config/load.js';
import { ConfigError } from './config/validate.js';
import type { IntercomConfig } from './config/schema.js';
import { createLogger, type Logger } from './logging/logger.js';
import { createUnit, type Unit } from './unit.js';
import { notifyReady, notifyStopping } from './system/sd-notify.js';
import { startWatchdog } from './system/watchdog.js';

/**
 * The service process: reads the config, builds the unit (src/unit.ts, the composition root),
 * tells systemd when it is ready, keeps the watchdog fed and stops on SIGTERM/SIGINT.
 */

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

/** Builds and starts the unit, then tells systemd it is ready; the returned stop() undoes it all. */
export async function startService(config: IntercomConfig, logger: Logger): Promise<{ unit: Unit; stop(): Promise<void> }> {
  const unit = await createUnit(config, { logger });
  const { httpPort, udpPort } = await unit.start();
  const { passwordSet } = await unit.people.describe(undefined);
  if (!passwordSet) {
    logger.warn(
      { file: unit.people.password.file },
      'no panel password is set, so nobody can log in to the panel or the API: set one with "sudo intercom password", or panel_password= in intercom.txt on the boot partition',
    );
  }
  const audioAvailable = unit.media.audioAvailable;
  logger.info(
    { unit: config.unit.name, httpPort, udpPort, audio: audioAvailable, gpio: unit.gpio.status().available, format: config.audio.format },
    'intercom ready',
  );

  // READY=1 only now: HTTP and UDP listen, and audio is open or known absent.
  await notifyReady(`${config.unit.name}: audio ${audioAvailable ? 'on' : 'unavailable'}, HTTP ${httpPort}`).catch((error) =>
    logger.warn({ err: error }, 'could not notify systemd'),
  );
  const watchdog = startWatchdog({ onError: (error) => logger.warn({ err: error }, 'watchdog ping failed') });

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      logger.info('stopping: ending any call, closing devices');
      await notifyStopping().catch(() => undefined);
      watchdog.stop();
      await unit.stop();
    })());
  return { unit, stop };
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
