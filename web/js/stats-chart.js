/**
 * A small live line chart of playout delay and jitter over the last minute, drawn on a canvas
 * (no charting library: the unit may have no internet and the panel stays small).
 */

const NICE_STEPS_MS = [5, 10, 20, 25, 50, 100, 200, 250, 500, 1000];
/** Samples further apart than this are not joined by a line (the stream was interrupted). */
const GAP_MS = 3500;

export class StatsChart {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {{ windowMs?: number, series: { key: string, label: string, colorVar: string }[] }} options
   */
  constructor(canvas, options) {
    this.canvas = canvas;
    this.windowMs = options.windowMs ?? 60_000;
    this.series = options.series;
    this.samples = [];
    if ('ResizeObserver' in window) new ResizeObserver(() => this.draw()).observe(canvas);
  }

  /** Adds one sample: `at` in ms (performance.now()), `values` keyed like the series. */
  push(at, values) {
    this.samples.push({ at, values });
    const oldest = at - this.windowMs;
    while (this.samples.length && this.samples[0].at < oldest) this.samples.shift();
    this.draw();
    this.describe();
  }

  clear() {
    this.samples = [];
    this.draw();
    this.describe();
  }

  get sampleCount() {
    return this.samples.length;
  }

  describe() {
    const last = this.samples.at(-1);
    if (!last) {
      this.canvas.setAttribute('aria-label', 'Playout delay and jitter over the last minute: no data yet');
      return;
    }
    const parts = this.series.map((series) => `${series.label} ${Math.round(last.values[series.key])} ms`);
    this.canvas.setAttribute('aria-label', `Over the last minute; now ${parts.join(', ')}`);
  }

  draw() {
    const canvas = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (!width || !height) return;
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    const g = canvas.getContext('2d');
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);

    const style = getComputedStyle(canvas);
    const ink = style.getPropertyValue('--chart-ink').trim() || '#666';
    const grid = style.getPropertyValue('--chart-grid').trim() || 'rgba(128,128,128,.25)';
    const left = 40;
    const right = 8;
    const top = 8;
    const bottom = 20;
    const plotWidth = width - left - right;
    const plotHeight = height - top - bottom;

    let highest = 0;
    for (const sample of this.samples) {
      for (const series of this.series) highest = Math.max(highest, sample.values[series.key] ?? 0);
    }
    const step = NICE_STEPS_MS.find((candidate) => candidate * 4 >= highest) ?? Math.ceil(highest / 4000) * 1000;
    const top_ms = step * 4;
    const now = this.samples.at(-1)?.at ?? 0;
    const x = (at) => left + plotWidth * (1 - (now - at) / this.windowMs);
    const y = (ms) => top + plotHeight * (1 - Math.min(ms, top_ms) / top_ms);

    g.font = '11px system-ui, sans-serif';
    g.lineWidth = 1;
    g.fillStyle = ink;
    g.strokeStyle = grid;
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    for (let line = 0; line <= 4; line++) {
      const ms = step * line;
      const lineY = Math.round(y(ms)) + 0.5;
      g.beginPath();
      g.moveTo(left, lineY);
      g.lineTo(width - right, lineY);
      g.stroke();
      g.fillText(String(ms), left - 6, lineY);
    }
    g.textBaseline = 'alphabetic';
    g.textAlign = 'left';
    g.fillText('−60 s', left, height - 4);
    g.textAlign = 'right';
    g.fillText('now', width - right, height - 4);

    g.lineWidth = 2;
    g.lineJoin = 'round';
    for (const series of this.series) {
      g.strokeStyle = style.getPropertyValue(series.colorVar).trim() || ink;
      g.beginPath();
      let previous = null;
      for (const sample of this.samples) {
        const value = sample.values[series.key];
        if (!Number.isFinite(value)) {
          previous = null;
          continue;
        }
        if (previous && sample.at - previous.at <= GAP_MS) g.lineTo(x(sample.at), y(value));
        else g.moveTo(x(sample.at), y(value));
        previous = sample;
      }
      g.stroke();
      // A lone sample has no line yet: mark it so the chart is not blank for its first second.
      if (this.samples.length === 1) {
        const only = this.samples[0];
        g.fillStyle = g.strokeStyle;
        g.beginPath();
        g.arc(x(only.at), y(only.values[series.key] ?? 0), 2.5, 0, Math.PI * 2);
        g.fill();
      }
    }
  }
}
