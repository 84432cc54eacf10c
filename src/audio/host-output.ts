/**
 * Turns the audio host's stdout/stderr (naudiodon's printf()s, PortAudio's, alsa-lib's and
 * libjack's complaints) into a few debug log lines. Every PortAudio initialisation on a machine
 * without card 0 prints dozens of "ALSA lib ... cannot find card '0'" lines, and a PortAudio
 * built with JACK support reports the absent JACK server; those are counted and summarised
 * rather than logged one by one, and other chatter is rate-limited.
 */
export interface HostOutputSink {
  line(stream: 'stdout' | 'stderr', text: string): void;
  /** `count` lines of `kind` were not passed to line() since the last summary. */
  summary(stream: 'stdout' | 'stderr', kind: 'audio-library' | 'rate-limited', count: number): void;
}

export interface HostOutputOptions {
  /** Lines (other than ALSA noise) passed on per window; the rest are counted. */
  maxLinesPerWindow?: number;
  windowMs?: number;
  /** How many audio-library noise lines ("ALSA lib ...") to pass on verbatim per window before only counting them. */
  noiseLinesVerbatim?: number;
  now?: () => number;
}

const AUDIO_LIBRARY_NOISE = [
  /^ALSA lib /,
  /^Cannot connect to server (socket|request channel)/,
  /^jack server is not running/,
  /^JackShmReadWritePtr/,
  /^Expression '.*' failed in 'src\/(hostapi|common)\//,
];
const MAX_LINE_CHARS = 2_000;

export class HostOutputFilter {
  private readonly partial = { stdout: '', stderr: '' };
  private readonly suppressed = {
    stdout: { 'audio-library': 0, 'rate-limited': 0 },
    stderr: { 'audio-library': 0, 'rate-limited': 0 },
  };
  private windowStart: number;
  private linesInWindow = 0;
  private noiseLinesInWindow = 0;
  private readonly maxLinesPerWindow: number;
  private readonly windowMs: number;
  private readonly noiseLinesVerbatim: number;
  private readonly now: () => number;

  constructor(
    private readonly sink: HostOutputSink,
    options: HostOutputOptions = {},
  ) {
    this.maxLinesPerWindow = options.maxLinesPerWindow ?? 20;
    this.windowMs = options.windowMs ?? 60_000;
    this.noiseLinesVerbatim = options.noiseLinesVerbatim ?? 2;
    this.now = options.now ?? Date.now;
    this.windowStart = this.now();
  }

  write(stream: 'stdout' | 'stderr', chunk: Buffer | string): void {
    const text = this.partial[stream] + chunk.toString();
    const lines = text.split('\n');
    this.partial[stream] = (lines.pop() ?? '').slice(-MAX_LINE_CHARS);
    for (const line of lines) this.handleLine(stream, line.replace(/\r$/, ''));
  }

  /** Passes on a trailing unterminated line and the counts of what was held back. */
  flush(): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      if (this.partial[stream] !== '') this.handleLine(stream, this.partial[stream]);
      this.partial[stream] = '';
      this.emitSummaries(stream);
    }
  }

  private handleLine(stream: 'stdout' | 'stderr', line: string): void {
    if (line.trim() === '') return;
    const now = this.now();
    if (now - this.windowStart >= this.windowMs) {
      this.emitSummaries('stdout');
      this.emitSummaries('stderr');
      this.windowStart = now;
      this.linesInWindow = 0;
      this.noiseLinesInWindow = 0;
    }
    if (AUDIO_LIBRARY_NOISE.some((pattern) => pattern.test(line))) {
      this.noiseLinesInWindow += 1;
      if (this.noiseLinesInWindow > this.noiseLinesVerbatim) {
        this.suppressed[stream]['audio-library'] += 1;
        return;
      }
    } else {
      this.linesInWindow += 1;
      if (this.linesInWindow > this.maxLinesPerWindow) {
        this.suppressed[stream]['rate-limited'] += 1;
        return;
      }
    }
    this.sink.line(stream, line.slice(0, MAX_LINE_CHARS));
  }

  private emitSummaries(stream: 'stdout' | 'stderr'): void {
    for (const kind of ['audio-library', 'rate-limited'] as const) {
      const count = this.suppressed[stream][kind];
      if (count > 0) this.sink.summary(stream, kind, count);
      this.suppressed[stream][kind] = 0;
    }
  }
}
