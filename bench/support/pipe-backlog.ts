import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/**
 * How many bytes wait in a FIFO, sampled every few milliseconds. A virtual speaker's pipe holds
 * what a program has written and the paced reader has not yet taken: on a real sound card that
 * audio would wait in the device's buffer, whose size is the program's own choice. The
 * mouth-to-ear benchmark reports it beside the delay.
 *
 * Node cannot ioctl(FIONREAD), so a small perl loop (perl-base is essential on Debian) holds the
 * FIFO open read-write (never consuming) and prints the byte count every `everyMs`.
 */
export class PipeBacklogSampler {
  private readonly child: ChildProcess;
  private readonly samples: { at: number; bytes: number }[] = [];

  constructor(fifoPath: string, everyMs = 2) {
    const script = [
      'use Time::HiRes qw(usleep);',
      '$| = 1;',
      'open(my $f, "+<", $ARGV[0]) or die "open: $!";',
      'my $interval = $ARGV[1] * 1000;',
      'while (1) { my $n = pack("L", 0); ioctl($f, 0x541B, $n) or die "FIONREAD: $!"; print unpack("L", $n), "\\n"; usleep($interval); }',
    ].join(' ');
    this.child = spawn('perl', ['-e', script, fifoPath, String(everyMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      this.samples.push({ at: performance.now(), bytes: Number(line) });
    });
  }

  /** Every sample so far: when it was taken (performance.now()) and the bytes waiting then. */
  get series(): readonly { at: number; bytes: number }[] {
    return this.samples;
  }

  /** Mean backlog in bytes over [from, to] (performance.now() times). */
  meanBytes(from = -Infinity, to = Infinity): number {
    const window = this.samples.filter((sample) => sample.at >= from && sample.at <= to);
    return window.length === 0 ? Number.NaN : window.reduce((sum, sample) => sum + sample.bytes, 0) / window.length;
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }
}
