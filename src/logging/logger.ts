import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/**
 * The service logs pino JSON lines on stdout for journald; a person at a terminal gets them
 * pretty-printed instead. `destination: 2` sends logs to stderr, for commands whose stdout is
 * their output.
 */
export function createLogger(options: { level?: LevelWithSilent; name?: string; destination?: 1 | 2 } = {}): Logger {
  const destination = options.destination ?? 1;
  const stream = destination === 1 ? process.stdout : process.stderr;
  const base = { level: options.level ?? 'info', name: options.name };
  if (stream.isTTY) {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { destination, colorize: true } } });
  }
  return pino(base, pino.destination({ dest: destination, sync: false }));
}
