import { systemClock, type Clock } from './clock.js';
import { systemdNotifier, type SystemdNotifier } from './sd-notify.js';

/**
 * systemd's software watchdog: with `WatchdogSec=` set, systemd passes the interval in
 * $WATCHDOG_USEC and restarts the service when no WATCHDOG=1 arrives in time. The pings come from
 * a timer on the event loop, so a loop stuck in a busy or blocking call stops them and gets the
 * service restarted. Pinging at half the interval leaves room for one late timer.
 */

/** The watchdog interval systemd expects pings within, or undefined when no watchdog is armed for this process. */
export function watchdogTimeoutMs(env: NodeJS.ProcessEnv = process.env, pid: number = process.pid): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isFinite(usec) || usec <= 0) return undefined;
  // WATCHDOG_PID names the process the watchdog is for; a child that inherited the variable is not it.
  if (env.WATCHDOG_PID !== undefined && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return usec / 1000;
}

export interface WatchdogHandle {
  /** How often pings are sent, or undefined when no watchdog is armed (then nothing runs). */
  readonly pingIntervalMs: number | undefined;
  stop(): void;
}

export interface WatchdogOptions {
  env?: NodeJS.ProcessEnv;
  pid?: number;
  clock?: Clock;
  notifier?: SystemdNotifier;
  /** A ping that could not be sent (the timer keeps running; systemd acts if they keep failing). */
  onError?: (error: unknown) => void;
}

/** Starts pinging systemd's watchdog from the event loop; a no-op without $WATCHDOG_USEC. */
export function startWatchdog(options: WatchdogOptions = {}): WatchdogHandle {
  const timeoutMs = watchdogTimeoutMs(options.env, options.pid);
  const notifier = options.notifier ?? systemdNotifier();
  if (timeoutMs === undefined || !notifier.enabled) {
    return { pingIntervalMs: undefined, stop: () => {} };
  }
  const clock = options.clock ?? systemClock;
  const pingIntervalMs = Math.max(1, Math.floor(timeoutMs / 2));
  const ping = (): void => {
    notifier.watchdog().catch((error: unknown) => options.onError?.(error));
  };
  ping();
  const timer = clock.setInterval(ping, pingIntervalMs);
  let stopped = false;
  return {
    pingIntervalMs,
    stop() {
      if (stopped) return;
      stopped = true;
      clock.clearInterval(timer);
    },
  };
}
