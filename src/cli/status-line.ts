import type { ReceiveStats } from '../media/receive-stats.js';

/** Formats the once-a-second status of `intercom send` / `intercom recv` for a person or for --json. */

export interface SendFigures {
  seconds: number;
  packetsSent: number;
  bytesSent: number;
  format: string;
  destination: string;
}

/** What `recv` reports: the receiver's own statistics, and how long it has run. */
export type ReceiveFigures = ReceiveStats & { seconds: number };

const fixed = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : '-');

export function lossPercent(figures: Pick<ReceiveFigures, 'packetsReceived' | 'packetsLost'>): number {
  const expected = figures.packetsReceived + figures.packetsLost;
  return expected === 0 ? 0 : (100 * figures.packetsLost) / expected;
}

export function formatSendLine(figures: SendFigures): string {
  const kbps = figures.seconds > 0 ? (figures.bytesSent * 8) / figures.seconds / 1000 : 0;
  return `${fixed(figures.seconds, 0)}s  sent ${figures.packetsSent} pkts  ${fixed(kbps)} kbit/s  ${figures.format} -> ${figures.destination}`;
}

export function formatReceiveLine(figures: ReceiveFigures): string {
  return [
    `${fixed(figures.seconds, 0)}s`,
    `rx ${figures.packetsReceived}`,
    `lost ${figures.packetsLost} (${fixed(lossPercent(figures))}%)`,
    `late ${figures.packetsLate}`,
    `jitter ${fixed(figures.jitterMs)} ms`,
    `delay ${fixed(figures.currentDelayMs, 0)}/${fixed(figures.targetDelayMs, 0)} ms`,
    `concealed ${fixed(figures.concealedMs, 0)} ms`,
    `underruns ${figures.underruns}`,
  ].join('  ');
}

export function formatReceiveSummary(figures: ReceiveFigures): string {
  return [
    `received ${figures.packetsReceived} packets in ${fixed(figures.seconds)} s`,
    `lost ${figures.packetsLost} (${fixed(lossPercent(figures))}%), late ${figures.packetsLate}, duplicated ${figures.packetsDuplicated}, reordered ${figures.packetsReordered}, malformed ${figures.packetsMalformed}`,
    `jitter ${fixed(figures.jitterMs)} ms, playout delay ${fixed(figures.currentDelayMs, 0)} ms (target ${fixed(figures.targetDelayMs, 0)} ms)`,
    `concealed ${fixed(figures.concealedMs, 0)} ms, time-scaled ${fixed(figures.timeScaledMs, 0)} ms, underruns ${figures.underruns}, drift ${fixed(figures.driftPpm)} ppm`,
  ].join('\n');
}

export function formatSendSummary(figures: SendFigures): string {
  return `sent ${figures.packetsSent} packets (${figures.bytesSent} bytes) in ${fixed(figures.seconds)} s, ${figures.format} -> ${figures.destination}`;
}
