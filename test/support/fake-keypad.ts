import { FakeGpioPorts, type FakeInputPort, type FakeOutputPort, type InputPort, type Level, type OutputPort } from '../../src/gpio/ports.js';
import { KEYPAD_LAYOUT } from '../../src/gpio/gpio-config.js';
import type { KeypadKey } from '../../src/gpio/matrix-keypad.js';
import type { Clock } from '../../src/system/clock.js';

/**
 * FakeGpioPorts with a 3x4 matrix keypad wired to some of its pins, behaving as the real one does
 * electrically: a column input is pulled up (reads 1) unless a pressed key joins it to a row output
 * that is driven low. Column levels follow every row write and every key press at once, with an
 * edge reported whenever one changes, as the kernel would report it.
 *
 *   const ports = new KeypadGpioPorts(clock, { rows: [529, 539, 534, 528], columns: [535, 536, 537] });
 *   ports.keypad.press('1'); ... ports.keypad.release('1');
 */
export class KeypadGpioPorts extends FakeGpioPorts {
  readonly keypad: FakeKeypad;

  constructor(clock: Pick<Clock, 'now'>, wiring: { rows: number[]; columns: number[] }) {
    super(clock);
    this.keypad = new FakeKeypad(this, wiring.rows, wiring.columns);
  }

  override openOutput(sysfsNumber: number, initial: Level): OutputPort {
    const port = super.openOutput(sysfsNumber, initial) as FakeOutputPort;
    if (this.keypad.isRow(sysfsNumber)) {
      const write = port.write.bind(port);
      port.write = (level: Level) => {
        write(level);
        this.keypad.settle();
      };
    }
    this.keypad.settle();
    return port;
  }

  override openInput(sysfsNumber: number): InputPort {
    const port = super.openInput(sysfsNumber);
    this.keypad.settle();
    return port;
  }
}

export class FakeKeypad {
  private readonly pressed = new Set<KeypadKey>();
  /** Row writes seen, to tell scanning apart from idling. */
  rowWrites = 0;

  constructor(
    private readonly ports: FakeGpioPorts,
    private readonly rows: number[],
    private readonly columns: number[],
  ) {}

  isRow(sysfs: number): boolean {
    return this.rows.includes(sysfs);
  }

  press(...keys: KeypadKey[]): void {
    for (const key of keys) this.pressed.add(key);
    this.settle();
  }

  release(...keys: KeypadKey[]): void {
    for (const key of keys.length ? keys : [...this.pressed]) this.pressed.delete(key);
    this.settle();
  }

  /** Puts every column at the level the keys and row levels make (edges fire for changes). */
  settle(): void {
    this.columns.forEach((columnSysfs, columnIndex) => {
      const column = this.ports.inputs.get(columnSysfs) as FakeInputPort | undefined;
      if (!column) return;
      let level: Level = 1;
      this.rows.forEach((rowSysfs, rowIndex) => {
        const row = this.ports.outputs.get(rowSysfs);
        if (row && row.level === 0 && this.pressed.has(KEYPAD_LAYOUT[rowIndex][columnIndex])) level = 0;
      });
      column.set(level);
    });
  }
}
