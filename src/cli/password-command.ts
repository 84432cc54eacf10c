import { text } from 'node:stream/consumers';
import { panelPasswordProblem, storePanelPassword } from '../security/people-password.js';
import { UsageError } from './command-runtime.js';

/**
 * `intercom password`: sets the panel password (what people log in to the panel and the API with).
 * Reads it from stdin (`echo 'new password' | sudo intercom password`, and the first-boot script),
 * or asks twice on a terminal without echoing it. Stores only its scrypt hash in the data directory;
 * the running service takes it from the next login on (and ends the sessions of the old one).
 */

export interface PasswordCommandOptions {
  /** The data directory; default: `dataDir` from the unit's configuration. */
  dataDir?: string;
}

/** Reads one line from the terminal without echoing it. */
async function promptHidden(prompt: string): Promise<string> {
  const input = process.stdin;
  process.stderr.write(prompt);
  input.setRawMode(true);
  input.setEncoding('utf8');
  input.resume();
  try {
    return await new Promise<string>((resolve, reject) => {
      let typed = '';
      const onData = (chunk: string) => {
        for (const character of chunk) {
          if (character === '\r' || character === '\n' || character === '\u0004') {
            input.off('data', onData);
            process.stderr.write('\n');
            resolve(typed);
            return;
          }
          if (character === '\u0003') {
            input.off('data', onData);
            process.stderr.write('\n');
            reject(new UsageError('cancelled; the password was not changed'));
            return;
          }
          if (character === '\u007f' || character === '\b') typed = [...typed].slice(0, -1).join('');
          else typed += character;
        }
      };
      input.on('data', onData);
    });
  } finally {
    input.setRawMode(false);
    input.pause();
  }
}

async function readNewPassword(): Promise<string> {
  if (process.stdin.isTTY) {
    const first = await promptHidden('New panel password: ');
    const problem = panelPasswordProblem(first);
    if (problem) throw new UsageError(`the password ${problem}; it was not changed`);
    const second = await promptHidden('The same again: ');
    if (first !== second) throw new UsageError('the two passwords differ; it was not changed');
    return first;
  }
  // One line from a pipe or a file: the line break `echo` adds is not part of the password.
  const piped = await text(process.stdin);
  return piped.replace(/\r?\n$/, '');
}

export async function runPassword(options: PasswordCommandOptions): Promise<void> {
  // The configuration is read only when needed: it is what tells where the service keeps its data.
  let dataDir = options.dataDir;
  if (dataDir === undefined) {
    const { loadConfig } = await import('../config/load.js');
    dataDir = (await loadConfig()).dataDir;
  }
  const password = await readNewPassword();
  const problem = panelPasswordProblem(password);
  if (problem) throw new UsageError(`the password ${problem}; it was not changed`);
  const file = await storePanelPassword(dataDir, password);
  process.stdout.write(`panel password set (${file}); the running service uses it from the next login, and earlier sessions have ended\n`);
}
