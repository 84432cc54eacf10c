import { EventEmitter } from 'node:events';
import type { Clock, TimerHandle } from '../system/clock.js';
import type { InputPort, Level, OutputPort } from './ports.js';
import { KEYPAD_LAYOUT } from './gpio-config.js';

export type KeypadKey = (typeof KEYPAD_LAYOUT)[number][number];

export interface MatrixKeypadOptions {
  /** A key must read the same in every scan for this long before a press or release counts. Default 30 ms. */
  debounceMs?: number;
  /** Scan period while a key is down (the keypad is not scanned while idle). Default 10 ms. */
  scanIntervalMs?: number;
  /** Keys reading pressed for this long are reported stuck, and scanned only every STUCK_SCAN_MS. Default 5000 ms. */
  stuckAfterMs?: number;
}

export type MatrixKeypadEvents = {
  /** A key went down (debounced). */
  press: [key: KeypadKey];
  /** A key came up (debounced). */
  release: [key: KeypadKey];
  /** true: keys have read pressed for stuckAfterMs (a short or a wiring fault, or something resting on them); false: released since. */
  stuck: [stuck: boolean, keys: KeypadKey[]];
};

export const DEFAULT_SCAN_INTERVAL_MS = 10;
const DEFAULT_DEBOUNCE_MS = 30;
const DEFAULT_STUCK_AFTER_MS = 5000;
/** While keys read stuck, one scan this often is enough to see them come free. */
const STUCK_SCAN_MS = 250;
/**
 * Without a diode per key, three keys at the corners of a rectangle make the fourth read pressed
 * ("ghosting"): with more than two keys down, nothing new is believed until fewer are.
 */
const MAX_TRUSTED_KEYS = 2;

interface KeyState {
  /** What the last scan read. */
  raw: boolean;
  /** Since when it has read that. */
  since: number;
  /** Debounced. */
  down: boolean;
}

/**
 * A 3x4 matrix keypad: 4 row lines driven by the unit, 3 column lines read as inputs pulled up.
 *
 * Idle, every row is driven low, so any key pulls its column low and the column's edge interrupt
 * wakes the keypad: nothing runs while nobody touches it. Then it scans: rows high, one row low at
 * a time, reading the columns, every scanIntervalMs until every key is up again. The edges the scan
 * itself causes on the columns are ignored while scanning. Each key is debounced on its own (it must
 * read the same in scans spanning debounceMs), so bounce and spikes never make a press, two keys
 * rolled over (the second pressed before the first is let go) both count, and a third key
 * held at once is distrusted (ghosting). Keys held when the keypad starts are taken as the starting
 * state, not as presses.
 */
export class MatrixKeypad extends EventEmitter<MatrixKeypadEvents> {
  private readonly debounceMs: number;
  private readonly scanIntervalMs: number;
  private readonly stuckAfterMs: number;
  private readonly keys = new Map<KeypadKey, KeyState>();
  private scanTimer: TimerHandle | null = null;
  private scanEveryMs = 0;
  private running = false;
  private watching = false;
  /** Since when some key has read pressed without a break (null: none reads pressed). */
  private heldSince: number | null = null;
  private isStuck = false;
  private scans = 0;
  /** The matrix is being read: the edges that causes on the columns are our own. */
  private reading = false;

  constructor(
    private readonly rows: readonly OutputPort[],
    private readonly columns: readonly InputPort[],
    private readonly clock: Clock,
    options: MatrixKeypadOptions = {},
  ) {
    super();
    if (rows.length !== KEYPAD_LAYOUT.length || columns.length !== KEYPAD_LAYOUT[0].length) {
      throw new RangeError(`a 3x4 keypad needs ${KEYPAD_LAYOUT.length} rows and ${KEYPAD_LAYOUT[0].length} columns`);
    }
    this.debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS;
    this.scanIntervalMs = options.scanIntervalMs ?? DEFAULT_SCAN_INTERVAL_MS;
    this.stuckAfterMs = options.stuckAfterMs ?? DEFAULT_STUCK_AFTER_MS;
  }

  /** The keys down now (debounced). */
  get down(): KeypadKey[] {
    return [...this.keys].filter(([, state]) => state.down).map(([key]) => key);
  }

  get stuck(): boolean {
    return this.isStuck;
  }

  /** Whether the keypad is being scanned (a key is, or was just, down). */
  get scanning(): boolean {
    return this.scanTimer !== null;
  }

  /** Scans done so far (for tests and the curious: zero while nobody touches the keypad). */
  get scanCount(): number {
    return this.scans;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.selectAllRows();
    if (!this.watching) for (const column of this.columns) column.watch(() => this.onColumnEdge());
    this.watching = true;
    // Keys held now are the starting state; the scan that follows reports only what changes.
    const held = this.readMatrix();
    const now = this.clock.now();
    for (const key of held) this.keys.set(key, { raw: true, since: now, down: true });
    if (held.size > 0) {
      this.heldSince = now;
      this.startScanning();
    }
  }

  stop(): void {
    this.running = false;
    this.stopScanning();
    this.keys.clear();
    this.heldSince = null;
    this.isStuck = false;
  }

  private onColumnEdge(): void {
    if (!this.running || this.scanTimer || this.reading) return;
    this.startScanning();
    this.scan();
  }

  private startScanning(every = this.scanIntervalMs): void {
    if (this.scanTimer && this.scanEveryMs === every) return;
    if (this.scanTimer) this.clock.clearInterval(this.scanTimer);
    this.scanEveryMs = every;
    this.scanTimer = this.clock.setInterval(() => this.scan(), every);
  }

  private stopScanning(): void {
    if (this.scanTimer) this.clock.clearInterval(this.scanTimer);
    this.scanTimer = null;
  }

  private scan(): void {
    if (!this.running) return;
    const now = this.clock.now();
    const raw = this.readMatrix();
    const trusted = raw.size <= MAX_TRUSTED_KEYS;
    for (const key of new Set([...this.keys.keys(), ...raw])) {
      const state = this.keys.get(key) ?? { raw: false, since: now, down: false };
      const reads = raw.has(key);
      if (reads !== state.raw) {
        state.raw = reads;
        state.since = now;
      }
      if (state.raw !== state.down && now - state.since >= this.debounceMs && (trusted || !state.raw)) {
        state.down = state.raw;
        this.emit(state.down ? 'press' : 'release', key);
      }
      if (!state.raw && !state.down) this.keys.delete(key);
      else this.keys.set(key, state);
    }
    this.watchForStuckKeys(raw, now);
    // Back to waiting for an edge once every key reads up and has been let go.
    if (this.keys.size === 0) {
      this.stopScanning();
      this.selectAllRows();
    }
  }

  private watchForStuckKeys(raw: Set<KeypadKey>, now: number): void {
    if (raw.size === 0) {
      this.heldSince = null;
      if (this.isStuck) {
        this.isStuck = false;
        this.emit('stuck', false, []);
        if (this.scanTimer) this.startScanning(this.scanIntervalMs);
      }
      return;
    }
    this.heldSince ??= now;
    if (!this.isStuck && now - this.heldSince >= this.stuckAfterMs) {
      this.isStuck = true;
      this.emit('stuck', true, [...raw]);
      this.startScanning(STUCK_SCAN_MS);
    }
  }

  /** Which keys read pressed now: each row low in turn, the others high; ends with every row low again. */
  private readMatrix(): Set<KeypadKey> {
    this.scans += 1;
    const pressed = new Set<KeypadKey>();
    this.reading = true;
    try {
      for (const row of this.rows) row.write(1);
      this.rows.forEach((row, rowIndex) => {
        row.write(0);
        this.columns.forEach((column, columnIndex) => {
          if (column.read() === PRESSED_LEVEL) pressed.add(KEYPAD_LAYOUT[rowIndex][columnIndex]);
        });
        row.write(1);
      });
      this.selectAllRows();
    } finally {
      this.reading = false;
    }
    return pressed;
  }

  private selectAllRows(): void {
    for (const row of this.rows) row.write(0);
  }
}

/** A column reads low when a key joins it to the row being driven low (columns are pulled up). */
const PRESSED_LEVEL: Level = 0;
