// The detail view of one torrent: overview (piece map, rate graph, figures),
// files (wanted, priorities), peers and trackers. Refreshed every 2 s while
// open, only the tab in view.

import * as api from "./api.js";
import { drawPieceMap, drawRateGraph } from "./charts.js";
import { fmtBytes, fmtRate, fmtEta, fmtPct, fmtRatio, fmtTime, h } from "./util.js";

const REFRESH_MS = 2000;
const TABS = ["overview", "files", "peers", "trackers"];

export class Detail {
  constructor({ getTorrent, getHistory, toast }) {
    this.getTorrent = getTorrent; this.getHistory = getHistory; this.toast = toast;
    this.el = document.getElementById("detail");
    this.id = null; this.tab = "overview"; this.timer = 0; this.files = []; this.pieces = null; this.loading = false;
    document.getElementById("detail-close").addEventListener("click", () => this.close());
    const tabs = TABS.map((t) => document.getElementById("tab-" + t));
    tabs.forEach((b, i) => {
      b.addEventListener("click", () => this.show(TABS[i]));
      b.addEventListener("keydown", (e) => {
        let j = i;
        if (e.key === "ArrowRight") j = (i + 1) % TABS.length;
        else if (e.key === "ArrowLeft") j = (i + TABS.length - 1) % TABS.length;
        else if (e.key === "Home") j = 0;
        else if (e.key === "End") j = TABS.length - 1;
        else return;
        e.preventDefault(); this.show(TABS[j]); tabs[j].focus();
      });
    });
    document.getElementById("files-all").addEventListener("click", () => this.setAllFiles(true));
    document.getElementById("files-none").addEventListener("click", () => this.setAllFiles(false));
    new ResizeObserver(() => { if (this.id) this.drawOverview(); }).observe(document.getElementById("piecemap"));
  }

  get open() { return this.id != null; }

  openTorrent(id, focus) {
    const changed = this.id !== id;
    this.id = id;
    this.el.hidden = false;
    if (changed) { this.pieces = null; this.files = []; for (const tb of ["files-tbl", "peers-tbl", "trackers-tbl"]) document.querySelector(`#${tb} tbody`).replaceChildren(); }
    this.updateHead();
    this.refresh();
    clearInterval(this.timer);
    this.timer = setInterval(() => this.refresh(), REFRESH_MS);
    if (focus) document.getElementById("tab-" + this.tab).focus();
  }

  close() {
    const id = this.id;
    this.id = null; this.el.hidden = true; clearInterval(this.timer);
    const row = id && document.querySelector(`.row.t[data-id="${CSS.escape(id)}"]`);
    document.getElementById("list").focus();
    return row;
  }

  show(tab) {
    this.tab = tab;
    for (const t of TABS) {
      const b = document.getElementById("tab-" + t), p = document.getElementById("pane-" + t);
      b.setAttribute("aria-selected", t === tab ? "true" : "false");
      b.tabIndex = t === tab ? 0 : -1;
      p.hidden = t !== tab;
    }
    this.refresh();
  }

  /** Called when the torrent changed (event stream). */
  onUpdate(id) { if (id === this.id) { this.updateHead(); if (this.tab === "overview") this.drawStats(); } }
  onRemoved(id) { if (id === this.id) this.close(); }

  updateHead() {
    const t = this.getTorrent(this.id);
    document.getElementById("d-name").textContent = t ? t.name : "—";
  }

  async refresh() {
    const id = this.id;
    if (id == null || this.loading) return;
    this.loading = true;
    try {
      if (this.tab === "overview") {
        try { this.pieces = await api.getPieces(id); } catch (e) { this.pieces = null; }
        if (id === this.id) this.drawOverview();
      } else if (this.tab === "files") {
        const files = await api.getFiles(id);
        if (id === this.id) this.renderFiles(files);
      } else if (this.tab === "peers") {
        const peers = await api.getPeers(id);
        if (id === this.id) this.renderPeers(peers);
      } else if (this.tab === "trackers") {
        const tr = await api.getTrackers(id);
        if (id === this.id) this.renderTrackers(tr);
      }
    } catch (e) {
      if (e.status === 404 && id === this.id) this.close();
    } finally { this.loading = false; }
  }

  drawOverview() {
    const cv = document.getElementById("piecemap");
    if (this.pieces) {
      drawPieceMap(cv, this.pieces);
      let have = 0;
      for (let i = 0; i < this.pieces.count; i++) if (this.pieces.have[i >> 3] & (0x80 >> (i & 7))) have++;
      cv.setAttribute("aria-label", `Piece map: ${have} of ${this.pieces.count} pieces, ${this.pieces.downloading.length} downloading`);
      cv.dataset.have = String(have); cv.dataset.count = String(this.pieces.count);
    } else {
      drawPieceMap(cv, { count: 0 });
      cv.setAttribute("aria-label", "Piece map: no metadata yet");
    }
    this.drawGraph();
    this.drawStats();
  }

  drawGraph() {
    const hist = this.getHistory(this.id);
    drawRateGraph(document.getElementById("d-graph"), hist, Date.now() / 1000, 140);
  }

  drawStats() {
    const t = this.getTorrent(this.id);
    if (!t) return;
    const rows = [
      ["State", t.state + (t.error ? ` — ${t.error}` : "")],
      ["Progress", `${fmtPct(t.progress)} of ${fmtBytes(t.size)}`],
      ["Rates", `↓ ${fmtRate(t.down, "0 B/s")}   ↑ ${fmtRate(t.up, "0 B/s")}`],
      ["ETA", t.progress >= 1 ? "done" : fmtEta(t.eta)],
      ["Downloaded", fmtBytes(t.downloaded)], ["Uploaded", fmtBytes(t.uploaded)], ["Ratio", fmtRatio(t.ratio)],
      ["Peers", String(t.peers) + (t.seeds != null ? ` (${t.seeds} seeds)` : "")],
      ["Pieces", this.pieces ? `${this.pieces.count}${t.pieceLength ? " × " + fmtBytes(t.pieceLength) : ""}` : "—"],
      ["Info hash", t.hash || "—"], ["Directory", t.dir || "—"], ["Added", fmtTime(t.added)],
    ];
    const dl = document.getElementById("d-stats");
    dl.replaceChildren(...rows.flatMap(([k, v]) => [h("dt", null, k), h("dd", null, v)]));
  }

  renderFiles(files) {
    this.files = files;
    const tb = document.querySelector("#files-tbl tbody");
    const focusedIdx = document.activeElement && document.activeElement.closest && document.activeElement.closest("#files-tbl") ? document.activeElement.dataset.fi + "|" + document.activeElement.tagName : null;
    tb.replaceChildren(...files.map((f) => {
      const cb = h("input", { type: "checkbox", "aria-label": "Download " + f.path, "data-fi": String(f.index) });
      cb.checked = f.wanted;
      cb.addEventListener("change", () => this.changeFile(f.index, { wanted: cb.checked }));
      const sel = h("select", { "aria-label": "Priority of " + f.path, "data-fi": String(f.index) },
        ...["skip", "low", "normal", "high"].map((p) => h("option", { value: p }, p)));
      sel.value = f.wanted ? f.priority === "skip" ? "normal" : f.priority : "skip";
      sel.addEventListener("change", () => this.changeFile(f.index, { priority: sel.value }));
      return h("tr", null, h("td", null, cb), h("td", { class: "path" }, f.path), h("td", { class: "num" }, fmtBytes(f.length)),
        h("td", null, h("div", { class: "bar" + (f.progress >= 1 ? " done" : ""), "aria-label": fmtPct(f.progress) }, h("i", { style: `width:${f.progress * 100}%` }), h("span", null, fmtPct(f.progress)))),
        h("td", null, sel));
    }));
    if (focusedIdx) {
      const [fi, tag] = focusedIdx.split("|");
      const el = tb.querySelector(`${tag.toLowerCase()}[data-fi="${fi}"]`);
      if (el) el.focus();
    }
  }

  async changeFile(index, change) {
    const wanted = this.files.map((f) => f.wanted);
    const prios = this.files.map((f) => f.priority);
    const pos = this.files.findIndex((f) => f.index === index);
    if (change.wanted !== undefined) { wanted[pos] = change.wanted; if (change.wanted && prios[pos] === "skip") prios[pos] = "normal"; }
    if (change.priority !== undefined) { prios[pos] = change.priority; wanted[pos] = change.priority !== "skip"; }
    await this.sendFiles(wanted, prios);
  }

  async setAllFiles(on) {
    await this.sendFiles(this.files.map(() => on), this.files.map((f) => (on ? (f.priority === "skip" ? "normal" : f.priority) : "skip")));
  }

  async sendFiles(wanted, prios) {
    try {
      await api.setFiles(this.id, wanted, prios);
      this.renderFiles(this.files.map((f, i) => ({ ...f, wanted: wanted[i], priority: prios[i] })));
    } catch (e) { this.toast("Could not change files: " + e.message); }
  }

  renderPeers(peers) {
    const tb = document.querySelector("#peers-tbl tbody");
    peers.sort((a, b) => b.connected - a.connected || b.down + b.up - (a.down + a.up) || b.downloaded - a.downloaded);
    tb.replaceChildren(...peers.map((p) => h("tr", { class: p.connected ? null : "gone" },
      h("td", null, p.addr), h("td", null, p.client + (p.connected ? "" : " (gone)")), h("td", { class: "num c-down" }, fmtRate(p.down)), h("td", { class: "num c-up" }, fmtRate(p.up)),
      h("td", null, p.flags),
      h("td", null, p.connected ? h("div", { class: "bar" + (p.progress >= 1 ? " done" : ""), "aria-label": fmtPct(p.progress) }, h("i", { style: `width:${p.progress * 100}%` }), h("span", null, fmtPct(p.progress))) : "—"),
      h("td", { class: "num" }, `${fmtBytes(p.downloaded)} / ${fmtBytes(p.uploaded)}`))));
    if (!peers.length) tb.append(h("tr", null, h("td", { colspan: "7", class: "hint" }, "No peers.")));
  }

  renderTrackers(trs) {
    const tb = document.querySelector("#trackers-tbl tbody");
    tb.replaceChildren(...trs.map((t) => h("tr", null, h("td", null, String(t.tier)), h("td", { class: "path" }, t.url),
      h("td", null, t.status + (t.message ? ` — ${t.message}` : "")), h("td", { class: "num" }, t.peers != null ? String(t.peers) : ""),
      h("td", null, t.next != null ? (t.next > 1e9 ? fmtTime(t.next) : fmtEta(t.next)) : ""))));
    if (!trs.length) tb.append(h("tr", null, h("td", { colspan: "5", class: "hint" }, "No trackers.")));
  }
}
