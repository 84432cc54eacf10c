import type { Logger } from '../logging/logger.js';

/**
 * What `send` and `recv` share: a once-a-second report, and an orderly stop on Ctrl-C, on
 * SIGTERM or when --seconds runs out, after which the command prints its summary.
 */
export interface RunningCommand {
  /** Resolves when the command should stop, with the reason. */
  readonly stopped: Promise<string>;
  stop(reason: string): void;
  dispose(): void;
}

export function runUntilStopped(options: {
  seconds?: number;
  everySecond: (elapsedSeconds: number) => void;
  startedAt: number;
}): RunningCommand {
  let stopWith: (reason: string) => void = () => undefined;
  const stopped = new Promise<string>((resolve) => {
    stopWith = resolve;
  });
  const onSignal = (signal: NodeJS.Signals) => stopWith(signal);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const ticker = setInterval(() => options.everySecond((performance.now() - options.startedAt) / 1000), 1000);
  const limit =
    options.seconds !== undefined ? setTimeout(() => stopWith('time limit'), options.seconds * 1000) : undefined;
  return {
    stopped,
    stop: (reason) => stopWith(reason),
    dispose() {
      clearInterval(ticker);
      if (limit) clearTimeout(limit);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** Prints a line of output: human text, or one JSON object per line with --json. */
export function printer(json: boolean) {
  return {
    event(type: string, text: string, figures: object) {
      process.stdout.write(json ? `${JSON.stringify({ type, ...figures })}\n` : `${text}\n`);
    },
    status(text: string, figures: object) {
      process.stdout.write(json ? `${JSON.stringify({ type: 'status', ...figures })}\n` : `${text}\n`);
    },
    summary(text: string, figures: object) {
      process.stdout.write(json ? `${JSON.stringify({ type: 'summary', ...figures })}\n` : `${text}\n`);
    },
  };
}

export class UsageError extends Error {}

export function parseNumberOption(name: string, min: number, max: number) {
  return (raw: string): number => {
    const value = Number(raw);
    if (!Number.isFinite(value) || value < min || value > max) {
      throw new UsageError(`${name} must be a number from ${min} to ${max}, got "${raw}"`);
    }
    return value;
  };
}

export function logFatal(logger: Logger | undefined, error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  if (logger) logger.debug({ err: error }, 'command failed');
  process.stderr.write(`intercom: ${message}\n`);
}
