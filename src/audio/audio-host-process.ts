/**
 * The parent's handle on one audio host child process (naudiodon-host.ts): spawning it with the
 * same Node and loader, the IPC request/answer pattern, the binary audio pipes, forwarding its
 * output to the log, and ending it reliably (close, then SIGKILL).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { HostOutputFilter } from './host-output.js';
import {
  HOST_TO_PARENT_FD,
  PARENT_TO_HOST_FD,
  RecordDecoder,
  type AudioRecord,
  type HostToParentMessage,
  type ParentToHostMessage,
} from './host-protocol.js';

export class AudioHostError extends Error {
  override name = 'AudioHostError';
}

export interface AudioHostOptions {
  logger: Logger;
  env: NodeJS.ProcessEnv;
  /** The host's working directory, where naudiodon's segfault handler writes crash.log. */
  scratchDir: string;
  /** A label for log lines, e.g. "capture testmic". */
  label: string;
  /**
   * How long the host may take to start (Node loading, before any device is touched). Generous:
   * a Pi Zero 2 W or an emulated board needs many seconds, and nothing can block there.
   */
  startTimeoutMs?: number;
}

const DEFAULT_HOST_START_TIMEOUT_MS = 120_000;

export interface HostExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The host program beside this file, .ts under tsx and .js when compiled. */
function hostProgramPath(): string {
  const here = fileURLToPath(import.meta.url);
  return path.join(path.dirname(here), `naudiodon-host${path.extname(here)}`);
}

/** Node options to pass on (loaders such as tsx), without ones that would break the child. */
function inheritedExecArgv(): string[] {
  const result: string[] = [];
  const argv = process.execArgv;
  for (let index = 0; index < argv.length; index += 1) {
    const arg = argv[index];
    if (/^--(inspect|debug)/.test(arg)) continue;
    if (['-e', '--eval', '-p', '--print', '--input-type'].includes(arg)) {
      index += 1; // and its value
      continue;
    }
    if (/^(--eval|--print|--input-type)=/.test(arg) || arg === '-i' || arg === '--interactive' || arg === '--test') continue;
    result.push(arg);
  }
  return result;
}

const RECENT_LINES_KEPT = 5;

export class AudioHostProcess {
  readonly exited: Promise<HostExit>;
  private readonly child: ChildProcess;
  private readonly output: HostOutputFilter;
  private readonly decoder = new RecordDecoder();
  private readonly messageListeners = new Set<(message: HostToParentMessage) => void>();
  private recordListener: ((record: AudioRecord) => void) | undefined;
  private exit: HostExit | undefined;
  /** The host's last few log lines, to say why it died. */
  private readonly recentLines: string[] = [];
  private stopping: Promise<void> | undefined;
  private readonly started: Promise<void>;

  constructor(private readonly options: AudioHostOptions) {
    const { logger, label } = options;
    this.output = new HostOutputFilter({
      line: (stream, text) => {
        this.recentLines.push(text);
        if (this.recentLines.length > RECENT_LINES_KEPT) this.recentLines.shift();
        logger.debug({ audioHost: label, stream }, text);
      },
      summary: (stream, kind, count) =>
        logger.debug({ audioHost: label, stream, suppressed: count }, kind === 'audio-library' ? 'audio library messages suppressed' : 'audio host messages rate-limited'),
    });
    // The host keeps our working directory so that loaders given as bare names (--import=tsx)
    // resolve; it moves to scratchDir itself before loading naudiodon.
    this.child = spawn(process.execPath, [...inheritedExecArgv(), hostProgramPath(), options.scratchDir], {
      env: { PA_ALSA_PLUGHW: '1', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe', 'ipc'],
      serialization: 'json',
    });
    let markExited: (exit: HostExit) => void = () => undefined;
    this.exited = new Promise((resolve) => {
      markExited = (exit) => {
        if (this.exit) return;
        this.exit = exit;
        this.output.flush();
        logger.debug({ audioHost: label, ...exit }, 'audio host exited');
        resolve(exit);
      };
    });
    this.child.once('exit', (code, signal) => markExited({ code, signal }));
    // A spawn that fails (EMFILE when the process is out of file descriptors, ENOENT) is reported
    // only as an 'error' on the next tick, with no 'exit' and without the pipes: it counts as an
    // exit, so starting fails with the reason instead of throwing where nobody catches it.
    this.child.on('error', (error) => {
      logger.warn({ audioHost: label, err: error }, 'audio host process error');
      if (this.child.pid === undefined) {
        this.recentLines.push(`could not be started: ${error.message}`);
        markExited({ code: null, signal: null });
      }
    });
    this.child.stdout?.on('data', (chunk: Buffer) => this.output.write('stdout', chunk));
    this.child.stderr?.on('data', (chunk: Buffer) => this.output.write('stderr', chunk));
    this.fromHost?.on('data', (chunk: Buffer) => this.onAudioBytes(chunk));
    this.fromHost?.on('error', () => undefined); // reported through the exit
    this.toHost?.on('error', () => undefined); // EPIPE once the host is gone: reported through the exit
    this.child.on('message', (message: HostToParentMessage) => {
      for (const listener of [...this.messageListeners]) listener(message);
    });
    this.started = this.waitUntilStarted(options.startTimeoutMs ?? DEFAULT_HOST_START_TIMEOUT_MS);
    this.started.catch(() => undefined); // a request reports it
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get hasExited(): boolean {
    return this.exit !== undefined;
  }

  /** Absent when the process could not be spawned. */
  private get fromHost(): Readable | undefined {
    return (this.child.stdio?.[HOST_TO_PARENT_FD] ?? undefined) as Readable | undefined;
  }

  private get toHost(): Writable | undefined {
    return (this.child.stdio?.[PARENT_TO_HOST_FD] ?? undefined) as Writable | undefined;
  }

  onRecord(listener: (record: AudioRecord) => void): void {
    this.recordListener = listener;
  }

  onMessage(listener: (message: HostToParentMessage) => void): () => void {
    this.messageListeners.add(listener);
    return () => {
      this.messageListeners.delete(listener);
    };
  }

  /** Sends a control message that needs no answer; dropped if the host is gone. */
  tell(message: ParentToHostMessage): void {
    if (!this.exit && this.child.connected) this.child.send(message, () => undefined);
  }

  sendRecord(record: Buffer): void {
    if (!this.exit && this.toHost?.writable) this.toHost.write(record);
  }

  /** The host's last output lines, formatted for an error message ('' if none). */
  lastWords(): string {
    this.output.flush();
    return this.recentLines.length > 0 ? `; it said: ${this.recentLines.join(' | ')}` : '';
  }

  /** Passes the host's log output on now (summaries of suppressed lines included). */
  flushOutput(): void {
    this.output.flush();
  }

  /**
   * Once the host has started, sends `message` and waits for the first answer `accept` takes.
   * Rejects if the host exits first or does not answer within `timeoutMs` of the message (then
   * the host is killed: PortAudio can block forever while it probes a FIFO-backed ALSA device
   * that nobody holds open). The host's own start is timed separately, so a slow board's Node
   * start-up does not eat the device's time.
   */
  async request<T extends HostToParentMessage>(
    message: ParentToHostMessage,
    accept: (answer: HostToParentMessage) => answer is T,
    timeoutMs: number,
  ): Promise<T> {
    await this.started;
    let removeListener: () => void = () => undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await new Promise<T>((resolve, reject) => {
        removeListener = this.onMessage((answer) => {
          if (accept(answer)) resolve(answer);
        });
        timer = setTimeout(() => {
          reject(
            new AudioHostError(
              `audio host (${this.options.label}) did not answer "${message.type}" within ${timeoutMs} ms; ` +
                'PortAudio may be blocked opening a device (a FIFO-backed ALSA PCM without a writer?)',
            ),
          );
          this.child.kill('SIGKILL');
        }, timeoutMs);
        void this.exited.then((exit) =>
          reject(new AudioHostError(`audio host (${this.options.label}) exited (${describeExit(exit)}) before answering "${message.type}"${this.lastWords()}`)),
        );
        this.child.send(message, (error) => {
          if (error) reject(new AudioHostError(`cannot reach the audio host: ${error.message}`));
        });
      });
    } finally {
      clearTimeout(timer);
      removeListener();
    }
  }

  private async waitUntilStarted(timeoutMs: number): Promise<void> {
    let removeListener: () => void = () => undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        removeListener = this.onMessage((message) => {
          if (message.type === 'started') resolve();
        });
        timer = setTimeout(() => {
          reject(new AudioHostError(`audio host (${this.options.label}) did not start within ${timeoutMs} ms`));
          this.child.kill('SIGKILL');
        }, timeoutMs);
        void this.exited.then((exit) =>
          reject(new AudioHostError(`audio host (${this.options.label}) exited (${describeExit(exit)}) while starting${this.lastWords()}`)),
        );
      });
    } finally {
      clearTimeout(timer);
      removeListener();
    }
  }

  /** Asks the host to quit its stream and exit; kills it if it has not exited within `timeoutMs`. */
  stop(timeoutMs: number): Promise<void> {
    this.stopping ??= (async () => {
      if (this.exit) return;
      if (this.child.connected) this.child.send({ type: 'close' } satisfies ParentToHostMessage, () => undefined);
      const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
      try {
        await this.exited;
      } finally {
        clearTimeout(timer);
      }
    })();
    return this.stopping;
  }

  private onAudioBytes(chunk: Buffer): void {
    let records: AudioRecord[];
    try {
      records = this.decoder.push(chunk);
    } catch (error) {
      this.options.logger.error({ audioHost: this.options.label, err: error }, 'corrupt audio stream from host; ending it');
      this.child.kill('SIGKILL');
      return;
    }
    for (const record of records) this.recordListener?.(record);
  }
}

export function describeExit(exit: HostExit): string {
  return exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
}
