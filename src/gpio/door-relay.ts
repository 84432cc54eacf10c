import type { Clock, TimerHandle } from '../system/clock.js';
import type { Level, OutputPort } from './ports.js';

export interface DoorRelayOptions {
  /** How long the relay stays energised per pulse. */
  pulseMs: number;
  /** The relay module switches on a low input (common on cheap opto-isolated boards). Default false. */
  activeLow?: boolean;
  /** Told when the relay is energised and when it is released again. */
  onChange?: (energised: boolean) => void;
}

/** A door-opener relay: energised for a fixed pulse, then released. */
export class DoorRelay {
  private timer: TimerHandle | null = null;
  private readonly onLevel: Level;

  constructor(
    private readonly port: OutputPort,
    private readonly clock: Clock,
    private readonly options: DoorRelayOptions,
  ) {
    this.onLevel = options.activeLow ? 0 : 1;
  }

  /** The level that keeps the relay released, for opening its port without a click. */
  static restLevel(options: Pick<DoorRelayOptions, 'activeLow'> = {}): Level {
    return options.activeLow ? 1 : 0;
  }

  get energised(): boolean {
    return this.timer !== null;
  }

  get pulseMs(): number {
    return this.options.pulseMs;
  }

  /**
   * Energises the relay for pulseMs. A pulse asked for while one is running does not lengthen it
   * (a person pressing "open" twice should not hold the door open twice as long). Returns whether
   * a new pulse started.
   */
  pulse(): boolean {
    if (this.timer) return false;
    this.port.write(this.onLevel);
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      this.port.write(DoorRelay.restLevel(this.options));
      this.options.onChange?.(false);
    }, this.options.pulseMs);
    this.options.onChange?.(true);
    return true;
  }

  /** Releases the relay at once and forgets any running pulse. */
  stop(): void {
    const wasEnergised = this.timer !== null;
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.port.write(DoorRelay.restLevel(this.options));
    if (wasEnergised) this.options.onChange?.(false);
  }
}
