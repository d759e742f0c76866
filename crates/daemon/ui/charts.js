// Canvas pictures: rate graphs, the sparkline and the piece map.

import { fmtRate } from "./util.js";

/** How long rate graphs look back, seconds. */
export const HISTORY_SECS = 300;

/** A ring of (time, down, up) samples kept for HISTORY_SECS. */
export class RateHistory {
  constructor() { this.t = []; this.down = []; this.up = []; }
  push(now, down, up) {
    this.t.push(now); this.down.push(down); this.up.push(up);
    while (this.t.length && this.t[0] < now - HISTORY_SECS - 5) { this.t.shift(); this.down.shift(); this.up.shift(); }
  }
  get length() { return this.t.length; }
}

function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }

function hexToRgb(c) {
  const m = /^#([0-9a-f]{6})$/i.exec(c);
  if (!m) return [128, 128, 128];
  const n = parseInt(m[1], 16);
  return [n >> 16, (n >> 8) & 255, n & 255];
}

function fit(canvas, cssHeight) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, canvas.clientWidth);
  const hgt = cssHeight ?? canvas.clientHeight ?? canvas.height;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(hgt * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(hgt * dpr);
  }
  if (cssHeight != null) canvas.style.height = cssHeight + "px";
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return { ctx, w, h: hgt };
}

function niceMax(v) {
  if (v <= 0) return 1024;
  const p = Math.pow(2, Math.ceil(Math.log2(v)));
  return p * 0.75 >= v ? p * 0.75 : p;
}

/** Draws a rate graph of `hist` (download filled, upload as a line). */
export function drawRateGraph(canvas, hist, now, cssHeight) {
  const { ctx, w, h } = fit(canvas, cssHeight ?? Number(canvas.getAttribute("height")) / 1);
  ctx.clearRect(0, 0, w, h);
  const padL = 64, padB = 18, padT = 8, padR = 8;
  const gw = w - padL - padR, gh = h - padT - padB;
  let max = 0;
  for (let i = 0; i < hist.length; i++) max = Math.max(max, hist.down[i], hist.up[i]);
  max = niceMax(max);
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = css("--muted");
  ctx.strokeStyle = css("--line");
  ctx.lineWidth = 1;
  ctx.textAlign = "right"; ctx.textBaseline = "middle";
  for (let k = 0; k <= 4; k++) {
    const y = padT + gh - (gh * k) / 4;
    ctx.beginPath(); ctx.moveTo(padL, Math.round(y) + 0.5); ctx.lineTo(w - padR, Math.round(y) + 0.5); ctx.stroke();
    ctx.fillText(k === 0 ? "0" : fmtRate((max * k) / 4), padL - 6, y);
  }
  // The span shown grows with the data, from one minute to HISTORY_SECS.
  const span = Math.min(HISTORY_SECS, Math.max(60, hist.length ? now - hist.t[0] : 0));
  const step = span <= 60 ? 10 : span <= 120 ? 30 : 60;
  ctx.textAlign = "center"; ctx.textBaseline = "top";
  for (let a = 0; a <= span; a += step) {
    const x = padL + gw - (gw * a) / span;
    ctx.fillText(a === 0 ? "now" : a % 60 ? `-${a}s` : `-${a / 60}m`, x, padT + gh + 4);
  }
  const X = (t) => padL + gw - ((now - t) / span) * gw;
  const Y = (v) => padT + gh - (v / max) * gh;
  if (hist.length > 1) {
    const down = css("--down"), up = css("--up");
    const [r, g, b] = hexToRgb(down);
    ctx.beginPath();
    ctx.moveTo(X(hist.t[0]), Y(0));
    for (let i = 0; i < hist.length; i++) ctx.lineTo(X(hist.t[i]), Y(hist.down[i]));
    ctx.lineTo(X(hist.t[hist.length - 1]), Y(0));
    ctx.closePath();
    ctx.fillStyle = `rgba(${r},${g},${b},0.25)`;
    ctx.fill();
    line(hist.down, down);
    line(hist.up, up);
  }
  function line(vals, color) {
    ctx.beginPath();
    for (let i = 0; i < hist.length; i++) {
      const x = X(hist.t[i]), y = Y(vals[i]);
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    }
    ctx.strokeStyle = color; ctx.lineWidth = 2; ctx.stroke();
  }
  // Legend.
  ctx.textAlign = "right"; ctx.textBaseline = "top";
  ctx.fillStyle = css("--up"); ctx.fillText("■ upload", w - padR - 4, padT + 2);
  ctx.fillStyle = css("--down"); ctx.fillText("■ download", w - padR - 64, padT + 2);
}

/** A tiny two-line sparkline without axes. */
export function drawSpark(canvas, hist, now) {
  const { ctx, w, h } = fit(canvas, 28);
  ctx.clearRect(0, 0, w, h);
  let max = 1;
  for (let i = 0; i < hist.length; i++) max = Math.max(max, hist.down[i], hist.up[i]);
  // The span shown grows with the data, from one minute to HISTORY_SECS.
  const span = Math.min(HISTORY_SECS, Math.max(60, hist.length ? now - hist.t[0] : 0));
  const X = (t) => w - ((now - t) / span) * w;
  const Y = (v) => h - 2 - (v / max) * (h - 4);
  for (const [vals, color] of [[hist.down, css("--down")], [hist.up, css("--up")]]) {
    ctx.beginPath();
    for (let i = 0; i < hist.length; i++) { const x = X(hist.t[i]), y = Y(vals[i]); i ? ctx.lineTo(x, y) : ctx.moveTo(x, y); }
    ctx.strokeStyle = color; ctx.lineWidth = 1.5; ctx.stroke();
  }
}

/**
 * Draws the piece map: one cell per piece (or per run of pieces when there
 * are more pieces than room), green when had, amber while downloading,
 * otherwise grey shaded by availability (darker: more copies), red when no
 * connected peer has it. Returns {cell, perCell, cols} for hit-testing.
 */
export function drawPieceMap(canvas, pieces, maxHeight = 180) {
  const n = pieces.count;
  const w = Math.max(1, canvas.clientWidth);
  if (!n) { const { ctx, w: ww, h } = fit(canvas, 24); ctx.clearRect(0, 0, ww, h); return null; }
  // Cell size: as large as fits, 2..14 px.
  let cell = Math.floor(Math.sqrt((w * maxHeight) / n));
  cell = Math.max(2, Math.min(14, cell));
  let cols = Math.max(1, Math.floor(w / cell));
  let perCell = 1;
  let rows = Math.ceil(n / cols);
  if (rows * cell > maxHeight) {
    const maxRows = Math.floor(maxHeight / cell);
    perCell = Math.ceil(n / (cols * maxRows));
    rows = Math.ceil(Math.ceil(n / perCell) / cols);
  }
  const height = Math.max(cell, rows * cell);
  const { ctx } = fit(canvas, height);
  ctx.clearRect(0, 0, w, height);
  const have = hexToRgb(css("--have")), dl = hexToRgb(css("--dl")), m0 = hexToRgb(css("--miss0")), m1 = hexToRgb(css("--miss1")), none = hexToRgb(css("--none"));
  const dlSet = new Set(pieces.downloading);
  const avail = pieces.availability;
  let maxA = 1;
  if (avail) for (const a of avail) if (a > maxA) maxA = a;
  const cells = Math.ceil(n / perCell);
  const gap = cell >= 5 ? 1 : 0;
  for (let c = 0; c < cells; c++) {
    const lo = c * perCell, hi = Math.min(n, lo + perCell);
    let got = 0, dling = 0, aSum = 0, anyZero = false;
    for (let i = lo; i < hi; i++) {
      if (pieces.have[i >> 3] & (0x80 >> (i & 7))) got++;
      else {
        if (dlSet.has(i)) dling++;
        if (avail) { aSum += avail[i] || 0; if (!avail[i]) anyZero = true; }
      }
    }
    const span = hi - lo, missing = span - got;
    let rgb;
    if (got === span) rgb = have;
    else if (dling) rgb = dl;
    else {
      let miss;
      if (!avail) miss = m0;
      else if (anyZero && aSum === 0) miss = none;
      else miss = mix(m0, m1, Math.min(1, aSum / missing / maxA));
      rgb = got ? mix(miss, have, got / span) : miss;
    }
    ctx.fillStyle = `rgb(${rgb[0]},${rgb[1]},${rgb[2]})`;
    const x = (c % cols) * cell, y = Math.floor(c / cols) * cell;
    ctx.fillRect(x, y, cell - gap, cell - gap);
  }
  return { cell, perCell, cols };
}

function mix(a, b, t) { return [0, 1, 2].map((k) => Math.round(a[k] + (b[k] - a[k]) * t)); }
