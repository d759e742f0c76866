// The torrent list: filtering, sorting and a virtually scrolled grid that
// keeps only the visible rows in the document (thousands of torrents stay
// cheap to scroll and to update).

import { fmtBytes, fmtRate, fmtEta, fmtPct, fmtRatio, h } from "./util.js";

const OVERSCAN = 6;
const STATE_ORDER = { downloading: 0, metadata: 1, checking: 2, queued: 3, seeding: 4, paused: 5, error: 6, stopped: 7 };
const ACTIVE_SORT = new Set(["down", "up", "eta", "progress", "peers", "ratio", "state"]);

export class TorrentList {
  /** `el` is the scrolling grid, `spacer` sets its height. */
  constructor(el, spacer, { onOpen, onSelect, onContext }) {
    this.el = el; this.spacer = spacer;
    this.onOpen = onOpen; this.onSelect = onSelect; this.onContext = onContext;
    this.torrents = new Map();
    this.view = [];
    this.sortKey = "name"; this.sortDir = 1;
    this.filter = "all"; this.search = "";
    this.selected = new Set();
    this.cursor = -1; // index into view
    this.pool = [];
    this.rowH = 32;
    this.dirtyView = true; this.lastSort = 0; this.frame = 0;
    el.addEventListener("scroll", () => this.schedule(), { passive: true });
    new ResizeObserver(() => { this.measure(); this.schedule(); }).observe(el);
    el.addEventListener("click", (e) => this.click(e));
    el.addEventListener("dblclick", (e) => { const i = this.rowIndexOf(e); if (i >= 0) this.onOpen(this.view[i]); });
    el.addEventListener("keydown", (e) => this.key(e));
    this.measure();
  }

  measure() {
    const v = parseFloat(getComputedStyle(this.el).getPropertyValue("--row-h"));
    if (v && v !== this.rowH) { this.rowH = v; this.dirtyView = true; for (const r of this.pool) r._key = null; }
  }

  /** Replaces every torrent (first load, reconnect). */
  setAll(list) {
    this.torrents.clear();
    for (const t of list) { t.ver = 1; this.torrents.set(t.id, t); }
    this.dirtyView = true; this.schedule();
  }
  upsert(t) {
    const old = this.torrents.get(t.id);
    t.ver = (old ? old.ver : 0) + 1;
    this.torrents.set(t.id, t);
    if (!old || this.sortKey === "name" && old.name !== t.name || old.state !== t.state || ACTIVE_SORT.has(this.sortKey)) this.dirtyView = true;
    this.schedule();
  }
  remove(id) {
    if (!this.torrents.delete(id)) return;
    this.selected.delete(id);
    this.dirtyView = true; this.schedule();
  }
  setSort(key) {
    if (this.sortKey === key) this.sortDir = -this.sortDir;
    else { this.sortKey = key; this.sortDir = key === "name" || key === "eta" || key === "state" ? 1 : -1; }
    this.dirtyView = true; this.lastSort = 0; this.schedule();
  }
  setFilter(filter, search) {
    this.filter = filter; this.search = search.trim().toLowerCase();
    this.dirtyView = true; this.lastSort = 0; this.schedule();
  }

  matches(t) {
    if (this.search && !t.name.toLowerCase().includes(this.search)) return false;
    switch (this.filter) {
      case "all": return true;
      case "active": return t.down > 0 || t.up > 0;
      case "paused": return t.state === "paused" || t.state === "stopped";
      case "downloading": return t.state === "downloading" || t.state === "metadata";
      default: return t.state === this.filter;
    }
  }

  sortValue(t) {
    switch (this.sortKey) {
      case "name": return t.name.toLowerCase();
      case "state": return STATE_ORDER[t.state] ?? 9;
      case "eta": return t.progress >= 1 ? -1 : t.eta == null || !isFinite(t.eta) ? Infinity : t.eta;
      case "ratio": return isFinite(t.ratio) ? t.ratio : Number.MAX_VALUE;
      default: return t[this.sortKey] ?? 0;
    }
  }

  rebuild() {
    const cursorId = this.view[this.cursor];
    const arr = [];
    for (const t of this.torrents.values()) if (this.matches(t)) arr.push([this.sortValue(t), t.id, t]);
    const d = this.sortDir;
    arr.sort((a, b) => (a[0] < b[0] ? -d : a[0] > b[0] ? d : a[2].name < b[2].name ? -1 : a[2].name > b[2].name ? 1 : 0));
    this.view = arr.map((x) => x[1]);
    this.cursor = cursorId ? this.view.indexOf(cursorId) : -1;
    this.dirtyView = false; this.lastSort = performance.now();
    this.el.setAttribute("aria-rowcount", String(this.view.length + 1));
    this.spacer.style.height = this.view.length * this.rowH + "px";
    for (const r of this.pool) r._key = null;
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => { this.frame = 0; this.render(); });
  }

  /** Draws the rows in view (re-sorting live columns at most once a second). */
  render() {
    if (this.dirtyView) {
      const wait = ACTIVE_SORT.has(this.sortKey) && this.lastSort ? 1000 - (performance.now() - this.lastSort) : 0;
      if (wait > 0) setTimeout(() => this.schedule(), wait); else this.rebuild();
    }
    const top = this.el.scrollTop, height = this.el.clientHeight;
    const first = Math.max(0, Math.floor(top / this.rowH) - OVERSCAN);
    const last = Math.min(this.view.length, Math.ceil((top + height) / this.rowH) + OVERSCAN);
    const need = last - first;
    while (this.pool.length < need) { const r = makeRow(); this.el.append(r); this.pool.push(r); }
    for (let j = 0; j < this.pool.length; j++) {
      const r = this.pool[j], idx = first + j;
      if (idx >= last) { if (!r.hidden) { r.hidden = true; r._key = null; } continue; }
      const id = this.view[idx], t = this.torrents.get(id);
      if (!t) continue;
      const sel = this.selected.has(id), cur = idx === this.cursor;
      const key = `${id}|${t.ver}|${idx}|${sel}|${cur}`;
      if (r._key === key) continue;
      r._key = key;
      r.hidden = false;
      fillRow(r, t, idx, this.rowH);
      r.setAttribute("aria-selected", sel ? "true" : "false");
      r.classList.toggle("cursor", cur);
      r.id = cur ? "row-cursor" : "";
    }
    if (this.cursor >= 0 && this.cursor >= first && this.cursor < last) this.el.setAttribute("aria-activedescendant", "row-cursor");
    else this.el.removeAttribute("aria-activedescendant");
    this.onSelect(this.selectedTorrents(), this.view.length, this.torrents.size);
    if (this.view.length && !document.documentElement.dataset.firstRows) {
      // When the first rows were drawn, for the tests' load-time report.
      document.documentElement.dataset.firstRows = String(Math.round(performance.now()));
    }
  }

  selectedTorrents() {
    const out = [];
    for (const id of this.selected) { const t = this.torrents.get(id); if (t) out.push(t); }
    return out;
  }

  rowIndexOf(e) {
    const r = e.target.closest(".row.t");
    return r ? Number(r.dataset.idx) : -1;
  }

  click(e) {
    const i = this.rowIndexOf(e);
    if (i < 0) return;
    const id = this.view[i];
    if (e.shiftKey && this.cursor >= 0) {
      const [a, b] = this.cursor < i ? [this.cursor, i] : [i, this.cursor];
      if (!e.ctrlKey && !e.metaKey) this.selected.clear();
      for (let k = a; k <= b; k++) this.selected.add(this.view[k]);
    } else if (e.ctrlKey || e.metaKey) {
      if (this.selected.has(id)) this.selected.delete(id); else this.selected.add(id);
    } else {
      this.selected.clear(); this.selected.add(id);
      this.onOpen(id, false);
    }
    this.cursor = i;
    this.el.focus({ preventScroll: true });
    this.redraw();
  }

  redraw() { for (const r of this.pool) r._key = null; this.schedule(); }

  moveTo(i, extend) {
    if (!this.view.length) return;
    i = Math.max(0, Math.min(this.view.length - 1, i));
    if (extend && this.cursor >= 0) this.selected.add(this.view[i]);
    else { this.selected.clear(); this.selected.add(this.view[i]); }
    this.cursor = i;
    const y = i * this.rowH, top = this.el.scrollTop, hgt = this.el.clientHeight;
    if (y < top) this.el.scrollTop = y;
    else if (y + this.rowH > top + hgt) this.el.scrollTop = y + this.rowH - hgt;
    this.redraw();
  }

  key(e) {
    const page = Math.max(1, Math.floor(this.el.clientHeight / this.rowH) - 1);
    const c = this.cursor;
    switch (e.key) {
      case "ArrowDown": this.moveTo(c + 1, e.shiftKey); break;
      case "ArrowUp": this.moveTo(c < 0 ? 0 : c - 1, e.shiftKey); break;
      case "PageDown": this.moveTo(c + page, e.shiftKey); break;
      case "PageUp": this.moveTo(c - page, e.shiftKey); break;
      case "Home": this.moveTo(0, e.shiftKey); break;
      case "End": this.moveTo(this.view.length - 1, e.shiftKey); break;
      case "Enter": if (c >= 0) this.onOpen(this.view[c], true); break;
      case " ":
        if (c >= 0) { const id = this.view[c]; if (this.selected.has(id)) this.selected.delete(id); else this.selected.add(id); this.redraw(); }
        break;
      case "a": if (e.ctrlKey || e.metaKey) { for (const id of this.view) this.selected.add(id); this.redraw(); break; } return;
      default: return;
    }
    e.preventDefault();
  }
}

function makeRow() {
  const bar = h("i");
  const barText = h("span", { class: "pct" });
  const r = h("div", { class: "row t", role: "row" },
    h("div", { class: "c-name", role: "gridcell" }),
    h("div", { class: "c-size num", role: "gridcell" }),
    h("div", { class: "c-prog", role: "gridcell" }, h("div", { class: "bar" }, bar), barText),
    h("div", { class: "c-state", role: "gridcell" }),
    h("div", { class: "c-down num", role: "gridcell" }),
    h("div", { class: "c-up num", role: "gridcell" }),
    h("div", { class: "c-eta num", role: "gridcell" }),
    h("div", { class: "c-peers num", role: "gridcell" }),
    h("div", { class: "c-ratio num", role: "gridcell" }),
    h("div", { class: "sub", "aria-hidden": "true" }));
  r._c = r.children; r._bar = bar; r._barText = barText;
  return r;
}

const STATE_LABEL = { downloading: "Downloading", seeding: "Seeding", paused: "Paused", queued: "Queued", checking: "Checking", error: "Error", metadata: "Metadata", stopped: "Stopped" };

function fillRow(r, t, idx, rowH) {
  const c = r._c;
  r.style.transform = `translateY(${idx * rowH}px)`;
  r.dataset.idx = idx; r.dataset.id = t.id;
  r.setAttribute("aria-rowindex", String(idx + 2));
  set(c[0], t.name); c[0].title = t.name;
  set(c[1], fmtBytes(t.size));
  const pct = fmtPct(t.progress);
  r._bar.style.width = Math.min(100, t.progress * 100) + "%";
  set(r._barText, pct);
  c[2].firstChild.className = "bar" + (t.progress >= 1 ? " done" : t.state === "paused" ? " paused" : "");
  c[2].firstChild.setAttribute("aria-label", pct);
  const st = STATE_LABEL[t.state] || t.state;
  set(c[3], st); c[3].className = "c-state st-" + t.state; c[3].title = t.error || st;
  set(c[4], fmtRate(t.down));
  set(c[5], fmtRate(t.up));
  set(c[6], t.progress >= 1 ? "" : t.down > 0 ? fmtEta(t.eta) : "");
  set(c[7], t.peers ? String(t.peers) : "");
  set(c[8], fmtRatio(t.ratio));
  const bits = [st, pct, fmtBytes(t.size)];
  if (t.down) bits.push("↓ " + fmtRate(t.down));
  if (t.up) bits.push("↑ " + fmtRate(t.up));
  if (t.down && t.progress < 1) bits.push(fmtEta(t.eta));
  set(c[9], bits.join(" · "));
}

function set(el, text) { if (el.textContent !== text) el.textContent = text; }
