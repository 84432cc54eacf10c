import { runUnitCall } from './end-to-end.js';
const r = await runUnitCall();
console.log(process.env.BENCH_UNIT_NODE_OPTIONS ?? 'default', JSON.stringify({ rssInCall: r.rssInCall, peak: r.peakRss, cpu: r.cpu, delays: r.directions.map((d) => d.delayMs) }));
