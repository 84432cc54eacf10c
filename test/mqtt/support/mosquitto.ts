import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { freeTcpPort, type TeardownHost } from '../../support/unit-process.js';

const run = promisify(execFile);

/**
 * A real Mosquitto broker (Debian's `mosquitto`) for the tests: its own config file, a password
 * file made with mosquitto_passwd, no anonymous clients, a free loopback port. It can be killed
 * (SIGKILL, as a crash or a power cut would) and started again on the same port and state, and
 * it is stopped and its files removed when the test ends.
 *
 * `persistent` keeps sessions and retained messages across a kill (autosaved on every change),
 * so an observing client with a persistent session receives what was published while it was
 * reconnecting, whatever the order in which clients come back.
 */

export interface BrokerUser {
  username: string;
  password: string;
}

export interface BrokerTls {
  certFile: string;
  keyFile: string;
}

export interface BrokerOptions {
  users: BrokerUser[];
  tls?: BrokerTls;
  persistent?: boolean;
}

export interface Broker {
  readonly port: number;
  /** mqtt://127.0.0.1:port or mqtts://127.0.0.1:port */
  readonly url: string;
  readonly dir: string;
  /** Everything the broker logged (connections, refusals). */
  log(): string;
  /** SIGKILL, and waits for it to be gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port with the same files. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export async function startBroker(t: TeardownHost, options: BrokerOptions): Promise<Broker> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'intercom-mosquitto-'));
  let stopBroker: () => Promise<void> = async () => undefined;
  // Registered first: a broker that never starts leaves no files behind either.
  t.teardown(async () => {
    await stopBroker();
    await rm(dir, { recursive: true, force: true });
  });
  const passwordFile = path.join(dir, 'passwd');
  for (const [index, user] of options.users.entries()) {
    await run('mosquitto_passwd', ['-b', ...(index === 0 ? ['-c'] : []), passwordFile, user.username, user.password]).catch((error: NodeJS.ErrnoException) => {
      throw new Error(error.code === 'ENOENT' ? 'mosquitto_passwd is missing: the MQTT tests need the Debian package "mosquitto"' : error.message);
    });
  }
  const port = await freeTcpPort();
  const configFile = path.join(dir, 'mosquitto.conf');
  const lines = [
    // As root, Mosquitto would switch to the mosquitto user, who cannot read this test's files.
    ...(process.getuid?.() === 0 ? ['user root'] : []),
    `listener ${port} 127.0.0.1`,
    'allow_anonymous false',
    `password_file ${passwordFile}`,
    ...(options.tls ? [`certfile ${options.tls.certFile}`, `keyfile ${options.tls.keyFile}`] : []),
    ...(options.persistent ? ['persistence true', `persistence_location ${dir}/`, 'autosave_on_changes true', 'autosave_interval 1'] : ['persistence false']),
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    'connection_messages true',
  ];
  await writeFile(configFile, `${lines.join('\n')}\n`);

  let child: ChildProcess | null = null;
  let logText = '';
  const launch = async () => {
    const process = spawn('mosquitto', ['-c', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    running.add(process);
    child = process;
    // once() rejects when the process cannot be started at all ('error'): that case is reported below.
    const exited = once(process, 'exit').catch(() => [null]);
    process.stderr!.setEncoding('utf8');
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`mosquitto did not start within 10 s:\n${logText}`)), 10_000);
      process.stderr!.on('data', (chunk: string) => {
        logText += chunk;
        if (/mosquitto version \S+ running/.test(logText.slice(-2000))) {
          clearTimeout(timer);
          resolve();
        }
      });
      void exited.then(([code]) => {
        clearTimeout(timer);
        reject(new Error(`mosquitto exited (${code}) before it was running:\n${logText}`));
      });
      process.once('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new Error(error.code === 'ENOENT' ? 'mosquitto is missing: the MQTT tests need the Debian package "mosquitto"' : error.message));
      });
    });
    void exited.then(() => running.delete(process));
    await ready;
  };
  const kill = async () => {
    const current = child;
    child = null;
    if (!current || current.exitCode !== null || current.signalCode !== null) return;
    const exited = once(current, 'exit');
    current.kill('SIGKILL');
    await exited;
  };

  stopBroker = kill;
  await launch();
  const broker: Broker = {
    port,
    url: `${options.tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`,
    dir,
    log: () => logText,
    kill,
    restart: launch,
    async stop() {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return broker;
}

/** One message as an observing client received it. */
export interface Seen {
  topic: string;
  text: string;
  retained: boolean;
  /** Position in everything this observer received. */
  index: number;
}

/**
 * A Home Assistant stand-in: an MQTT.js client that records every message on the topics it
 * subscribes to, and can wait for one. It reconnects quickly on its own after a broker restart.
 */
export class Observer {
  readonly seen: Seen[] = [];
  private readonly waiters = new Set<() => void>();

  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      this.seen.push({ topic, text: payload.toString('utf8'), retained: packet.retain, index: this.seen.length });
      for (const waiter of [...this.waiters]) waiter();
    });
  }

  static async connect(t: TeardownHost, broker: Broker, user: BrokerUser, topics: string[], options: IClientOptions = {}): Promise<Observer> {
    const client = connect(broker.url, { username: user.username, password: user.password, reconnectPeriod: 200, connectTimeout: 5000, ...options });
    client.on('error', () => undefined);
    t.teardown(() => new Promise<void>((resolve) => client.end(true, {}, () => resolve())));
    const observer = new Observer(client);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the observer could not connect')), 10_000);
      client.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    await client.subscribeAsync(topics, { qos: 1 });
    return observer;
  }

  /** Messages on `topic` (exact), or on topics matching a predicate. */
  on(topic: string | ((topic: string) => boolean)): Seen[] {
    const match = typeof topic === 'string' ? (candidate: string) => candidate === topic : topic;
    return this.seen.filter((message) => match(message.topic));
  }

  /** Resolves with the first message (already seen at or after `from`, or future) that matches. */
  waitFor(what: string, match: (message: Seen) => boolean, options: { from?: number; timeoutMs?: number } = {}): Promise<Seen> {
    const from = options.from ?? 0;
    const find = () => this.seen.slice(from).find(match);
    const found = find();
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`no MQTT message: ${what} (seen: ${JSON.stringify(this.seen.slice(from).slice(-15).map((m) => [m.topic, m.text.slice(0, 80)]))})`));
      }, options.timeoutMs ?? 15_000);
      const check = () => {
        const message = find();
        if (!message) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(message);
      };
      this.waiters.add(check);
    });
  }

  publish(topic: string, payload: string | Buffer, options: { retain?: boolean; qos?: 0 | 1 } = {}): Promise<unknown> {
    return this.client.publishAsync(topic, payload, { qos: options.qos ?? 1, retain: options.retain ?? false });
  }
}

/** Certificates made with openssl for the test: a CA, and a broker certificate it signed for 127.0.0.1. */
export interface TestPki {
  caFile: string;
  certFile: string;
  keyFile: string;
}

export async function makeTestPki(dir: string, name: string): Promise<TestPki> {
  const file = (suffix: string) => path.join(dir, `${name}-${suffix}`);
  const curve = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', ['req', '-x509', ...curve, '-keyout', file('ca.key'), '-out', file('ca.crt'), '-days', '2', '-subj', `/CN=${name} test CA`]);
  await run('openssl', ['req', ...curve, '-keyout', file('broker.key'), '-out', file('broker.csr'), '-subj', '/CN=127.0.0.1']);
  await writeFile(file('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n');
  await run('openssl', ['x509', '-req', '-in', file('broker.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial', '-out', file('broker.crt'), '-days', '2', '-extfile', file('ext.cnf')]);
  return { caFile: file('ca.crt'), certFile: file('broker.crt'), keyFile: file('broker.key') };
}
