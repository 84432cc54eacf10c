import { createRequire } from 'node:module';

/**
 * The service's side of systemd's notify protocol (sd_notify(3)): `Type=notify` waits for READY=1,
 * `WatchdogSec=` for WATCHDOG=1 pings, and STOPPING=1/STATUS= show up in `systemctl status`.
 *
 * Messages are datagrams on the unix socket named by $NOTIFY_SOCKET. Node's dgram module cannot
 * send unix datagrams, so the socket comes from `unix-dgram` (a small node-gyp addon with no system
 * library of its own, built natively for arm64 and amd64 alike). It is loaded only when
 * $NOTIFY_SOCKET is set: outside systemd every function here is a no-op and never touches it.
 */

/** Sends one notify message; rejects when the socket refuses it. */
export type NotifySender = (socketPath: string, message: string) => Promise<void>;

interface UnixDatagramSocket {
  send(buffer: Buffer, offset: number, length: number, path: string, callback: (error?: Error) => void): void;
  close(): void;
}

interface UnixDgramModule {
  createSocket(type: 'unix_dgram'): UnixDatagramSocket;
}

let unixDgram: UnixDgramModule | undefined;

function loadUnixDgram(): UnixDgramModule {
  if (unixDgram === undefined) {
    try {
      unixDgram = createRequire(import.meta.url)('unix-dgram') as UnixDgramModule;
    } catch (error) {
      throw new Error(
        'systemd asked for notifications ($NOTIFY_SOCKET is set) but the unix-dgram addon does not load: ' +
          'build it with "npm rebuild unix-dgram"',
        { cause: error },
      );
    }
  }
  return unixDgram;
}

/** The real sender: one short-lived socket per message (a few per minute at most). */
export const sendUnixDatagram: NotifySender = (socketPath, message) =>
  new Promise((resolve, reject) => {
    const socket = loadUnixDgram().createSocket('unix_dgram');
    const buffer = Buffer.from(message, 'utf8');
    socket.send(buffer, 0, buffer.length, socketPath, (error) => {
      socket.close();
      if (error) reject(new Error(`sd_notify to ${socketPath} failed: ${error.message}`, { cause: error }));
      else resolve();
    });
  });

/**
 * Where notifications go, from $NOTIFY_SOCKET, or undefined when they go nowhere (not started by
 * systemd with Type=notify, or an address form this module cannot reach).
 */
export function notifySocketPath(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env.NOTIFY_SOCKET;
  // '@name' (abstract namespace) and 'vsock:' addresses are used by user managers and VMs, never by
  // the system manager that runs this service; unix-dgram can only address paths.
  if (value === undefined || !value.startsWith('/')) return undefined;
  return value;
}

/** Builds one notify message from its fields; newlines inside a STATUS would start a new field. */
export function formatNotifyMessage(fields: Readonly<Record<string, string | number>>): string {
  return Object.entries(fields)
    .map(([key, value]) => `${key}=${String(value).replace(/\n/g, ' ')}`)
    .join('\n');
}

/** One service's conversation with systemd. All methods resolve at once when systemd is not listening. */
export class SystemdNotifier {
  readonly #socketPath: string | undefined;
  readonly #send: NotifySender;
  #ready = false;

  constructor(options: { env?: NodeJS.ProcessEnv; send?: NotifySender } = {}) {
    this.#socketPath = notifySocketPath(options.env);
    this.#send = options.send ?? sendUnixDatagram;
  }

  /** True when systemd listens for notifications. */
  get enabled(): boolean {
    return this.#socketPath !== undefined;
  }

  /** True once READY=1 has been sent (also what a health endpoint can report). */
  get isReady(): boolean {
    return this.#ready;
  }

  /** READY=1: HTTP and UDP listen and audio is open (or known absent); systemd's start job completes. */
  async ready(status?: string): Promise<void> {
    await this.#notify({ READY: 1, ...(status === undefined ? {} : { STATUS: status }), MAINPID: process.pid });
    this.#ready = true;
  }

  /** WATCHDOG=1: the event loop is alive. */
  async watchdog(): Promise<void> {
    await this.#notify({ WATCHDOG: 1 });
  }

  /** STATUS=: one line shown by `systemctl status`. */
  async status(text: string): Promise<void> {
    await this.#notify({ STATUS: text });
  }

  /** STOPPING=1: a graceful stop has begun (calls are being ended, devices closed). */
  async stopping(status?: string): Promise<void> {
    await this.#notify({ STOPPING: 1, ...(status === undefined ? {} : { STATUS: status }) });
  }

  async #notify(fields: Readonly<Record<string, string | number>>): Promise<void> {
    if (this.#socketPath === undefined) return;
    await this.#send(this.#socketPath, formatNotifyMessage(fields));
  }
}

let processNotifier: SystemdNotifier | undefined;

/** The notifier of this process, reading $NOTIFY_SOCKET on first use. */
export function systemdNotifier(): SystemdNotifier {
  processNotifier ??= new SystemdNotifier();
  return processNotifier;
}

/** Tells systemd the service is ready; a no-op outside systemd. */
export function notifyReady(status?: string): Promise<void> {
  return systemdNotifier().ready(status);
}

/** Tells systemd a graceful stop has begun; a no-op outside systemd. */
export function notifyStopping(status?: string): Promise<void> {
  return systemdNotifier().stopping(status);
}

/** Sets the status line shown by `systemctl status`; a no-op outside systemd. */
export function notifyStatus(text: string): Promise<void> {
  return systemdNotifier().status(text);
}
