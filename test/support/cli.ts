import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli/intercom.ts', import.meta.url));

export interface CliRun {
  child: ChildProcess;
  /** Every JSON line the command printed so far (with --json). */
  lines: Record<string, unknown>[];
  /** Resolves with the first printed object of the given type. */
  waitFor(type: string): Promise<Record<string, unknown>>;
  /** Resolves when the process exits, with its exit code and stderr. */
  exited: Promise<{ code: number | null; stderr: string }>;
  stop(): void;
}

/** Runs `intercom <args>` from the source tree (through tsx), collecting its --json output. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): CliRun {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  const waiters: { type: string; resolve: (line: Record<string, unknown>) => void }[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk) => {
    stderr += chunk;
  });
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text);
    } catch {
      line = { type: 'text', text };
    }
    lines.push(line);
    for (const waiter of waiters.filter((candidate) => candidate.type === line.type)) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(line);
    }
  });
  const exited = once(child, 'exit').then(([code]) => ({ code: code as number | null, stderr }));
  return {
    child,
    lines,
    exited,
    waitFor(type) {
      const seen = lines.find((line) => line.type === type);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ type, resolve });
        void exited.then(({ code, stderr: text }) =>
          reject(new Error(`intercom ${args.join(' ')} exited (${code}) before printing "${type}": ${text}`)),
        );
      });
    },
    stop() {
      if (child.exitCode === null) child.kill('SIGINT');
    },
  };
}
