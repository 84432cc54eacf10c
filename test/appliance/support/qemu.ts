import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { createSocket } from 'node:dgram';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** A TCP or UDP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(protocol: 'tcp' | 'udp'): Promise<number> {
  if (protocol === 'tcp') {
    const server = createServer().listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    server.close();
    return port;
  }
  const socket = createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  const { port } = socket.address();
  socket.close();
  return port;
}

export interface PortForward {
  protocol: 'tcp' | 'udp';
  hostPort: number;
  guestPort: number;
}

export interface GuestOptions {
  disk: string;
  kernel: string;
  initrd: string;
  serialLog: string;
  forwards: PortForward[];
  sshKey: string;
  sshPort: number;
  /** Unix socket for the QEMU Machine Protocol (QMP), for qmp(). */
  qmpSocket: string;
}

/**
 * The Raspberry Pi image booted in qemu-system-aarch64's `virt` machine with its own kernel and
 * initrd (the Pi's device tree does not apply to virt: the kernel finds virtio disks and network).
 */
export class QemuGuest {
  readonly #process: ChildProcess;
  readonly #options: GuestOptions;
  #exited = false;

  private constructor(process: ChildProcess, options: GuestOptions) {
    this.#process = process;
    this.#options = options;
    process.once('exit', () => {
      this.#exited = true;
    });
  }

  static boot(options: GuestOptions): QemuGuest {
    const forwards = options.forwards
      .map((forward) => `hostfwd=${forward.protocol}:127.0.0.1:${forward.hostPort}-:${forward.guestPort}`)
      .join(',');
    const serial = openSync(options.serialLog, 'w');
    const child = spawn(
      'qemu-system-aarch64',
      [
        '-M', 'virt', '-cpu', 'cortex-a72', '-smp', '2', '-m', '1024',
        '-kernel', options.kernel, '-initrd', options.initrd,
        '-append', 'root=LABEL=RASPIROOT rw rootwait console=ttyAMA0 net.ifnames=0 systemd.show_status=1',
        '-drive', `if=none,file=${options.disk},format=raw,id=disk`, '-device', 'virtio-blk-pci,drive=disk',
        '-netdev', `user,id=net,hostfwd=tcp:127.0.0.1:${options.sshPort}-:22,${forwards}`, '-device', 'virtio-net-pci,netdev=net',
        '-device', 'virtio-rng-pci',
        '-display', 'none', '-serial', 'stdio', '-monitor', 'none',
        '-qmp', `unix:${options.qmpSocket},server=on,wait=off`,
      ],
      { stdio: ['ignore', serial, serial] },
    );
    closeSync(serial);
    return new QemuGuest(child, options);
  }

  get exited(): boolean {
    return this.#exited;
  }

  serialTail(lines = 60): string {
    return readFileSync(this.#options.serialLog, 'utf8').split('\n').slice(-lines).join('\n');
  }

  /** Runs a command in the guest as admin over ssh. */
  async ssh(command: string, timeoutMs = 120_000): Promise<{ stdout: string; stderr: string }> {
    return execFileAsync(
      'ssh',
      [
        '-i', this.#options.sshKey, '-p', String(this.#options.sshPort),
        '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
        '-o', 'ConnectTimeout=10', '-o', 'LogLevel=ERROR',
        'admin@127.0.0.1', command,
      ],
      { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
    );
  }

  /**
   * Runs QMP commands over one connection (QEMU Machine Protocol) and resolves with the last one's
   * return value; rejects with QMP's error.
   */
  async qmp(commands: Array<{ execute: string; arguments?: Record<string, unknown>; delayMs?: number }>): Promise<unknown> {
    const socket = createConnection(this.#options.qmpSocket);
    try {
      await once(socket, 'connect');
      const replies = createInterface({ input: socket })[Symbol.asyncIterator]();
      // Events can come between a command and its answer: read up to the next return or error.
      const answer = async (what: string): Promise<unknown> => {
        for (;;) {
          const { value, done } = await replies.next();
          if (done) throw new Error(`QMP connection closed before ${what} was answered`);
          const message = JSON.parse(value as string) as { QMP?: unknown; return?: unknown; error?: { class: string; desc: string } };
          if (message.error) throw new Error(`QMP ${what}: ${message.error.class}: ${message.error.desc}`);
          if ('return' in message || message.QMP) return message.return ?? message.QMP;
        }
      };
      await answer('the greeting');
      socket.write(`${JSON.stringify({ execute: 'qmp_capabilities' })}\n`);
      await answer('qmp_capabilities');
      let last: unknown;
      for (const { delayMs, ...command } of commands) {
        if (delayMs) await new Promise((resolve) => setTimeout(resolve, delayMs));
        socket.write(`${JSON.stringify(command)}\n`);
        last = await answer(command.execute);
      }
      return last;
    } finally {
      socket.destroy();
    }
  }

  /**
   * Holds the virt machine's power button, which is GPIO line 3 of its PL061 controller, for about
   * `holdMs`. One `system_powerdown` raises the line for 100 ms, too short for an emulated guest
   * to see a steady level; each repeat re-arms QEMU's release timer, so repeating it every 40 ms
   * holds the line high until the repeats stop.
   */
  async holdPowerButton(holdMs: number): Promise<void> {
    const repeats = Math.max(1, Math.ceil(holdMs / 40));
    await this.qmp(Array.from({ length: repeats }, (_, index) => ({ execute: 'system_powerdown', delayMs: index === 0 ? 0 : 40 })));
  }

  /** Resolves once ssh logins work; rejects when the guest dies or the deadline passes. */
  async waitForSsh(deadlineMs: number): Promise<number> {
    const started = Date.now();
    for (;;) {
      if (this.#exited) throw new Error(`qemu exited before ssh answered:\n${this.serialTail()}`);
      try {
        await this.ssh('true', 30_000);
        return Date.now() - started;
      } catch (error) {
        if (Date.now() - started > deadlineMs) {
          throw new Error(`no ssh login within ${deadlineMs / 1000} s (${(error as Error).message}):\n${this.serialTail()}`);
        }
        // The guest is still booting: try again shortly (there is no event to wait for from outside).
        await new Promise((resolve) => setTimeout(resolve, 3000));
      }
    }
  }

  async dispose(): Promise<void> {
    if (this.#exited) return;
    const exit = once(this.#process, 'exit');
    this.#process.kill('SIGTERM');
    await exit;
  }
}
