/** How figures and reasons read on the panel. */

export function formatDuration(totalSeconds) {
  const seconds = Math.max(0, Math.floor(totalSeconds));
  const days = Math.floor(seconds / 86400);
  const hours = Math.floor((seconds % 86400) / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  const rest = seconds % 60;
  const clock = `${String(minutes).padStart(2, '0')}:${String(rest).padStart(2, '0')}`;
  if (days > 0) return `${days} d ${hours} h ${String(minutes).padStart(2, '0')} min`;
  return hours > 0 ? `${hours}:${clock}` : clock;
}

export function formatMs(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ms`;
}

export function formatPercent(value, digits = 1) {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  return `${value.toFixed(digits)} %`;
}

export function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return '–';
  const mib = bytes / 1024 / 1024;
  return mib >= 1024 ? `${(mib / 1024).toFixed(1)} GiB` : `${Math.round(mib)} MiB`;
}

/** Lost packets as a share of all that should have arrived. */
export function lossPercent(stats) {
  const expected = stats.packetsReceived + stats.packetsLost;
  return expected > 0 ? (stats.packetsLost / expected) * 100 : 0;
}

const END_REASONS = {
  'hung-up': 'hung up',
  rejected: 'rejected',
  busy: 'the other side is busy',
  'ring-timeout': 'nobody answered',
  unreachable: 'the other unit could not be reached',
  'peer-lost': 'the connection to the other unit was lost',
  'media-failed': 'the call audio could not start',
  'answered-elsewhere': 'answered by another member of the group',
};

export function describeEndReason(reason) {
  return END_REASONS[reason] ?? reason ?? 'ended';
}

/** "Front door (unit B)" */
export function describeParty(party) {
  return `${party.user} (unit ${party.unitName})`;
}

/** A running total of time in ms: "340 ms", "12.4 s". */
export function formatTotalMs(value) {
  if (!Number.isFinite(value)) return '–';
  return value < 1000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(1)} s`;
}
