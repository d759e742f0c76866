// Shoal web UI: wires the list, the detail view, the dialogs and the event
// stream together. No framework; every asset is embedded in the daemon.

import * as api from "./api.js";
import { TorrentList } from "./list.js";
import { Detail } from "./detail.js";
import { RateHistory, drawRateGraph, drawSpark, HISTORY_SECS } from "./charts.js";
import { fmtBytes, fmtRate, h, torrentFiles, toBase64 } from "./util.js";

const SAMPLE_MS = 2000;
const $ = (id) => document.getElementById(id);

// --- theme ------------------------------------------------------------------
const savedTheme = localStorage.getItem("shoal-theme");
if (savedTheme) document.documentElement.dataset.theme = savedTheme;
$("btn-theme").addEventListener("click", () => {
  const dark = document.documentElement.dataset.theme
    ? document.documentElement.dataset.theme === "dark"
    : matchMedia("(prefers-color-scheme: dark)").matches;
  const next = dark ? "light" : "dark";
  document.documentElement.dataset.theme = next;
  localStorage.setItem("shoal-theme", next);
  redrawCharts();
});

// --- toast ------------------------------------------------------------------
let toastTimer = 0;
function toast(msg) {
  const t = $("toast");
  t.textContent = msg; t.classList.add("show");
  clearTimeout(toastTimer); toastTimer = setTimeout(() => t.classList.remove("show"), 4000);
}

// --- rate history -----------------------------------------------------------
const globalHist = new RateHistory();
const histories = new Map();
function historyOf(id) { return histories.get(id) || new RateHistory(); }
let globalStats = null;

function sample() {
  const now = Date.now() / 1000;
  let down = 0, up = 0;
  for (const t of list.torrents.values()) {
    down += t.down; up += t.up;
    let hs = histories.get(t.id);
    if (!hs && (t.down || t.up)) { hs = new RateHistory(); histories.set(t.id, hs); }
    if (hs) {
      hs.push(now, t.down, t.up);
      if (!t.down && !t.up && hs.down.every((v) => !v) && hs.up.every((v) => !v)) histories.delete(t.id);
    }
  }
  if (globalStats && globalStats.down != null) { down = globalStats.down; up = globalStats.up; }
  globalHist.push(now, down, up);
  $("g-down").textContent = fmtRate(down, "0 B/s");
  $("g-up").textContent = fmtRate(up, "0 B/s");
  redrawCharts();
}
function redrawCharts() {
  const now = Date.now() / 1000;
  drawSpark($("g-spark"), globalHist, now);
  if (!$("view-stats").hidden) { drawRateGraph($("g-graph"), globalHist, now, 220); renderStats(); }
  if (detail.open && detail.tab === "overview") detail.drawGraph();
}

// --- list and detail ----------------------------------------------------------
const detail = new Detail({ getTorrent: (id) => list.torrents.get(id), getHistory: historyOf, toast });
const list = new TorrentList($("list"), $("list-spacer"), {
  onOpen: (id, focus) => detail.openTorrent(id, focus),
  onSelect: (sel, shown, total) => {
    const any = sel.length > 0;
    $("act-resume").disabled = !sel.some((t) => t.state === "paused" || t.state === "stopped" || t.state === "error");
    $("act-pause").disabled = !sel.some((t) => t.state !== "paused" && t.state !== "stopped");
    $("act-recheck").disabled = !any;
    $("act-remove").disabled = !any;
    $("list-count").textContent = shown === total ? `${total} torrents` : `${shown} of ${total} torrents`;
    $("list-empty").hidden = total > 0;
  },
});

for (const b of document.querySelectorAll("#list-head-row [data-key]")) {
  b.addEventListener("click", () => { list.setSort(b.dataset.key); markSort(); });
}
function markSort() {
  for (const b of document.querySelectorAll("#list-head-row [data-key]")) {
    if (b.dataset.key === list.sortKey) b.setAttribute("aria-sort", list.sortDir > 0 ? "ascending" : "descending");
    else b.removeAttribute("aria-sort");
  }
}
markSort();
const applyFilter = () => list.setFilter($("state-filter").value, $("search").value);
$("search").addEventListener("input", applyFilter);
$("state-filter").addEventListener("change", applyFilter);

// --- actions ------------------------------------------------------------------
/** Runs `what` (pause, resume, recheck, remove) on the selected torrents. */
async function bulk(what, extra) {
  const sel = list.selectedTorrents();
  if (!sel.length) return false;
  try {
    if (sel.length === 1) {
      if (what === "remove") await api.remove(sel[0].id, extra && extra.delete_data);
      else await api.action(sel[0].id, what);
    } else await api.bulk(what, sel.map((t) => Number(t.id)), extra);
    if (what !== "remove") for (const t of sel) refetchLater({ id: t.id });
    return true;
  } catch (e) { toast(`${what[0].toUpperCase() + what.slice(1)} failed: ${e.message}`); return false; }
}
$("act-pause").addEventListener("click", () => bulk("pause"));
$("act-resume").addEventListener("click", () => bulk("resume"));
$("act-recheck").addEventListener("click", () => bulk("recheck"));
$("act-remove").addEventListener("click", openRemove);

function openRemove() {
  const sel = list.selectedTorrents();
  if (!sel.length) return;
  $("rm-what").textContent = sel.length === 1 ? `Remove “${sel[0].name}”?` : `Remove ${sel.length} torrents?`;
  $("rm-data").checked = false;
  $("dlg-remove").showModal();
}
$("rm-cancel").addEventListener("click", () => $("dlg-remove").close());
$("rm-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const del = $("rm-data").checked;
  $("dlg-remove").close();
  const sel = list.selectedTorrents();
  if (await bulk("remove", { delete_data: del })) for (const t of sel) onRemoved({ id: t.id });
});

// --- add dialog ---------------------------------------------------------------
let addFiles = null; // {name, files, bytes}
function openAdd() {
  $("add-form").reset(); $("add-choose").checked = true;
  addFiles = null; $("add-files").hidden = true; $("add-error").textContent = "";
  $("dlg-add").showModal();
}
$("btn-add").addEventListener("click", openAdd);
$("add-cancel").addEventListener("click", () => $("dlg-add").close());
$("add-file").addEventListener("change", async () => {
  const f = $("add-file").files[0];
  if (f) await loadTorrentFile(f);
});
async function loadTorrentFile(f) {
  $("add-error").textContent = "";
  try {
    const bytes = new Uint8Array(await f.arrayBuffer());
    const meta = torrentFiles(bytes);
    addFiles = { ...meta, bytes };
    renderPicker($("add-file-list"), meta.files, null, updateAddSummary);
    $("add-files").hidden = false;
    updateAddSummary();
  } catch (e) {
    addFiles = null; $("add-files").hidden = true;
    $("add-error").textContent = `${f.name}: ${e.message}`;
  }
}
function updateAddSummary() {
  if (!addFiles) return;
  const boxes = [...$("add-file-list").querySelectorAll("input[type=checkbox]")];
  let n = 0, bytes = 0;
  boxes.forEach((b, i) => { if (b.checked) { n++; bytes += addFiles.files[i].length; } });
  $("add-summary").textContent = `(${n} of ${boxes.length}, ${fmtBytes(bytes)})`;
}
$("add-all").addEventListener("click", () => setAllBoxes($("add-file-list"), true, updateAddSummary));
$("add-none").addEventListener("click", () => setAllBoxes($("add-file-list"), false, updateAddSummary));

/** Fills `box` with one checkbox and priority per file. */
function renderPicker(box, files, wanted, onChange) {
  box.replaceChildren(...files.map((f, i) => {
    const id = `${box.id}-${i}`;
    const cb = h("input", { type: "checkbox", id });
    cb.checked = wanted ? wanted[i] : true;
    cb.addEventListener("change", onChange || (() => {}));
    const pr = h("select", { "aria-label": "Priority of " + f.path }, ...["low", "normal", "high"].map((p) => h("option", { value: p }, p)));
    pr.value = "normal";
    return h("div", { class: "fp" }, cb, h("label", { for: id }, f.path), h("span", { class: "num" }, fmtBytes(f.length)), pr);
  }));
}
function setAllBoxes(box, on, cb) { for (const b of box.querySelectorAll("input[type=checkbox]")) b.checked = on; if (cb) cb(); }
function pickedFrom(box) {
  const rows = [...box.querySelectorAll(".fp")];
  return {
    wanted: rows.map((r) => r.querySelector("input").checked),
    priorities: rows.map((r) => (r.querySelector("input").checked ? r.querySelector("select").value : "skip")),
  };
}

const pendingPick = new Set(); // magnets waiting for metadata to choose files
$("add-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const magnet = $("add-magnet").value.trim();
  const opts = { paused: $("add-paused").checked, dir: $("add-dir").value.trim() };
  let src;
  if (addFiles) {
    src = { metainfo: toBase64(addFiles.bytes) };
    const p = pickedFrom($("add-file-list"));
    if (!p.wanted.some(Boolean)) { $("add-error").textContent = "Choose at least one file."; return; }
    if (!p.wanted.every(Boolean) || p.priorities.some((x) => x !== "normal")) {
      opts.wanted = p.wanted;
      opts.priorities = p.priorities;
    }
  } else if (magnet) {
    src = magnet.startsWith("magnet:") ? { magnet } : { url: magnet };
  } else { $("add-error").textContent = "Choose a .torrent file or paste a magnet link."; return; }
  $("add-submit").disabled = true;
  try {
    const t = await api.addTorrent(src, opts);
    $("dlg-add").close();
    if (t && t.id && t.id !== "undefined") {
      list.upsert(t);
      // A magnet fetches its metadata running; it is paused the moment
      // the metadata is in, and the files are chosen then.
      if (src.magnet && $("add-choose").checked) {
        if (t.hasMetadata) openPick(t.id); else pendingPick.add(t.id);
      }
    }
    toast(`Added ${t && t.name ? t.name : "torrent"}`);
  } catch (err) {
    $("add-error").textContent = err.message;
  } finally { $("add-submit").disabled = false; }
});

// Choosing the files of a magnet once its metadata is in.
let pickId = null, pickFiles = [];
async function openPick(id) {
  pendingPick.delete(id);
  try {
    await api.action(id, "pause");
    pickFiles = await api.getFiles(id);
  } catch (e) { toast("Could not stop it to choose files: " + e.message); return; }
  pickId = id;
  const t = list.torrents.get(id);
  $("pick-name").textContent = t ? t.name : id;
  renderPicker($("pick-list"), pickFiles, pickFiles.map((f) => f.wanted));
  if (!$("dlg-pick").open) $("dlg-pick").showModal();
}
$("pick-all").addEventListener("click", () => setAllBoxes($("pick-list"), true));
$("pick-none").addEventListener("click", () => setAllBoxes($("pick-list"), false));
$("pick-cancel").addEventListener("click", () => $("dlg-pick").close());
$("pick-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const p = pickedFrom($("pick-list"));
  $("dlg-pick").close();
  try {
    // Everything at normal priority is what the daemon does already.
    if (!p.wanted.every(Boolean) || p.priorities.some((x) => x !== "normal")) await api.setFiles(pickId, p.wanted, p.priorities);
    await api.action(pickId, "resume");
    refetchLater({ id: pickId });
  } catch (err) { toast("Could not start: " + err.message); }
});

// Drag and drop of .torrent files anywhere on the page.
let dragDepth = 0;
document.addEventListener("dragenter", (e) => { if (e.dataTransfer.types.includes("Files")) { dragDepth++; document.body.classList.add("dragging"); } });
document.addEventListener("dragleave", () => { if (--dragDepth <= 0) { dragDepth = 0; document.body.classList.remove("dragging"); } });
document.addEventListener("dragover", (e) => e.preventDefault());
document.addEventListener("drop", async (e) => {
  e.preventDefault(); dragDepth = 0; document.body.classList.remove("dragging");
  const f = e.dataTransfer.files[0];
  if (!f) return;
  openAdd();
  await loadTorrentFile(f);
});

// --- global limits ------------------------------------------------------------
$("btn-limits").addEventListener("click", async () => {
  $("lim-error").textContent = "";
  try {
    const s = await api.getSettings();
    $("lim-down").value = s.downloadLimit ? Math.round(s.downloadLimit / 1024) : "";
    $("lim-up").value = s.uploadLimit ? Math.round(s.uploadLimit / 1024) : "";
    $("lim-alt-down").value = s.altDownloadLimit ? Math.round(s.altDownloadLimit / 1024) : "";
    $("lim-alt-up").value = s.altUploadLimit ? Math.round(s.altUploadLimit / 1024) : "";
    $("lim-alt").checked = s.altEnabled;
  } catch (e) { $("lim-error").textContent = e.message; }
  $("dlg-limits").showModal();
});
$("lim-cancel").addEventListener("click", () => $("dlg-limits").close());
$("lim-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const kib = (v) => (v === "" || Number(v) <= 0 ? null : Math.round(Number(v) * 1024));
  try {
    await api.setSettings({
      download_limit: kib($("lim-down").value), upload_limit: kib($("lim-up").value),
      alt_download_limit: kib($("lim-alt-down").value), alt_upload_limit: kib($("lim-alt-up").value), alt_enabled: $("lim-alt").checked,
    });
    $("dlg-limits").close();
    toast("Limits saved");
  } catch (err) { $("lim-error").textContent = err.message; }
});

// --- views ----------------------------------------------------------------------
const VIEWS = ["list", "peers", "stats"];
let flowTimer = 0;
function showView(v) {
  for (const k of VIEWS) {
    $("view-" + k).hidden = k !== v;
    $("btn-view-" + k).setAttribute("aria-pressed", k === v ? "true" : "false");
  }
  if (v !== "list" && detail.open) detail.close();
  clearInterval(flowTimer);
  if (v === "peers") { refreshFlow(); flowTimer = setInterval(refreshFlow, SAMPLE_MS); }
  if (v === "stats") redrawCharts();
  if (v === "list") list.schedule();
}
for (const k of VIEWS) $("btn-view-" + k).addEventListener("click", () => showView(k));

/** The peers view: bytes received from and sent to each peer address, over the active torrents. */
async function refreshFlow() {
  const active = [...list.torrents.values()].filter((t) => t.down || t.up || t.state === "downloading").sort((a, b) => b.down + b.up - (a.down + a.up)).slice(0, 16);
  const byAddr = new Map();
  await Promise.all(active.map(async (t) => {
    let peers = [];
    try { peers = await api.getPeers(t.id); } catch { return; }
    for (const p of peers) {
      const key = p.addr;
      const e = byAddr.get(key) || { addr: key, client: p.client, down: 0, up: 0, downloaded: 0, uploaded: 0, torrents: 0 };
      e.down += p.down; e.up += p.up; e.downloaded += p.downloaded; e.uploaded += p.uploaded; e.torrents++;
      byAddr.set(key, e);
    }
  }));
  const rows = [...byAddr.values()].sort((a, b) => b.downloaded + b.uploaded - (a.downloaded + a.uploaded)).slice(0, 60);
  const max = Math.max(1, ...rows.map((r) => Math.max(r.downloaded, r.uploaded)));
  const flow = $("flow");
  const cells = [h("div", { class: "fh l", role: "columnheader" }, "Received from"), h("div", { class: "fh who", role: "columnheader" }, "Peer"), h("div", { class: "fh r", role: "columnheader" }, "Sent to")];
  for (const r of rows) {
    cells.push(
      h("div", { class: "l", role: "cell" }, h("span", null, `${fmtBytes(r.downloaded)}${r.down ? " · " + fmtRate(r.down) : ""}`), h("i", { class: "b", style: `width:${(r.downloaded / max) * 70}%` })),
      h("div", { class: "who", role: "cell" }, r.addr, h("small", null, `${r.client || "unknown client"}${r.torrents > 1 ? ` · ${r.torrents} torrents` : ""}`)),
      h("div", { class: "r", role: "cell" }, h("i", { class: "b", style: `width:${(r.uploaded / max) * 70}%` }), h("span", null, `${fmtBytes(r.uploaded)}${r.up ? " · " + fmtRate(r.up) : ""}`)));
  }
  if (!rows.length) cells.push(h("p", { class: "hint", style: "grid-column: 1 / 4" }, "No peers connected to active torrents."));
  const kids = [];
  for (let i = 0; i < cells.length; i += 3) kids.push(h("div", { role: "row", style: "display:contents" }, ...cells.slice(i, i + 3)));
  flow.replaceChildren(...kids);
}

function renderStats() {
  const counts = {};
  let size = 0, down = 0, up = 0;
  for (const t of list.torrents.values()) { counts[t.state] = (counts[t.state] || 0) + 1; size += t.size; down += t.downloaded; up += t.uploaded; }
  const rows = [["Torrents", String(list.torrents.size)], ...Object.entries(counts).map(([k, v]) => [k, String(v)]), ["Total size", fmtBytes(size)], ["Downloaded", fmtBytes(down)], ["Uploaded", fmtBytes(up)]];
  if (globalStats && globalStats.raw) for (const [k, v] of Object.entries(globalStats.raw)) if (typeof v === "number" && !/rate/.test(k)) rows.push([k.replace(/_/g, " "), /bytes|loaded/.test(k) ? fmtBytes(v) : String(v)]);
  $("g-stats").replaceChildren(...rows.flatMap(([k, v]) => [h("dt", null, k), h("dd", null, v)]));
}

// --- keyboard ---------------------------------------------------------------------
document.addEventListener("keydown", (e) => {
  const typing = e.target.matches("input, select, textarea") || document.querySelector("dialog[open]");
  if (e.key === "Escape" && detail.open && !document.querySelector("dialog[open]")) {
    const row = detail.close();
    e.preventDefault();
    return row;
  }
  if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
  const k = e.key;
  if (k === "/") { e.preventDefault(); $("search").focus(); }
  else if (k === "a" || k === "A") { e.preventDefault(); openAdd(); }
  else if (k === "Delete") { e.preventDefault(); openRemove(); }
  else if (k === "p") { if (!$("act-pause").disabled) $("act-pause").click(); }
  else if (k === "r") { if (!$("act-resume").disabled) $("act-resume").click(); }
});

// --- events from the daemon -----------------------------------------------------------
function onTorrent(raw) {
  if (!raw) return;
  const id = String(raw.id ?? raw.info_hash ?? "");
  if (!id) return;
  const t = api.mergeTorrent(list.torrents.get(id), raw);
  list.upsert(t);
  detail.onUpdate(id);
  if (pendingPick.has(id) && t.hasMetadata && t.state !== "metadata") openPick(id);
}
function onRemoved(d) {
  const id = String(d && (d.id ?? d.info_hash));
  list.remove(id); histories.delete(id); detail.onRemoved(id);
}

let live = false, everOpen = false, pollTimer = 0;
async function loadAll() {
  const t0 = performance.now();
  const all = await api.listTorrents();
  list.setAll(all);
  document.documentElement.dataset.loaded = String(Math.round(performance.now() - t0));
}

// Lifecycle events name a torrent; its summary is fetched (a burst of them
// reloads the list once instead).
const refetch = new Set();
let refetchTimer = 0;
function refetchLater(d) {
  if (!d || d.id == null) return;
  refetch.add(String(d.id));
  if (!refetchTimer) refetchTimer = setTimeout(async () => {
    refetchTimer = 0;
    const ids = [...refetch]; refetch.clear();
    if (ids.length > 50) { try { await loadAll(); } catch { /* next event retries */ } return; }
    await Promise.all(ids.map(async (id) => {
      try { onTorrent((await api.getTorrent(id)).raw); } catch (e) { if (e.status === 404) onRemoved({ id }); }
    }));
  }, 150);
}

function startPolling() {
  clearInterval(pollTimer);
  // Only while the event stream is down: its `update` events carry every
  // change otherwise.
  pollTimer = setInterval(async () => {
    if (live) return;
    try { await loadAll(); } catch { /* the banner says so */ }
  }, SAMPLE_MS);
}

async function start() {
  // The list is asked for at once, alongside the session.
  const listing = loadAll();
  try {
    const s = await api.getSession();
    if (s.version) $("brand-version").textContent = s.version;
  } catch (e) {
    if (e.status === 401) { listing.catch(() => {}); await needLogin(); return start(); }
  }
  try { await listing; } catch (e) {
    $("conn-banner").textContent = "Cannot reach the Shoal daemon: " + e.message; $("conn-banner").hidden = false;
  }
  api.openEvents((kind, d) => {
    switch (kind) {
      case "open":
        // Reconnected: what changed meanwhile is read once.
        if (!live && everOpen) loadAll().catch(() => {});
        live = true; everOpen = true; $("conn-banner").hidden = true; break;
      case "lost": live = false; $("conn-banner").textContent = "Connection to the daemon lost; retrying…"; $("conn-banner").hidden = false; break;
      case "update": for (const t of Array.isArray(d) ? d : (d && d.torrents) || []) onTorrent(t); break;
      case "removed": onRemoved(d); break;
      case "stats": globalStats = { down: d.download_rate, up: d.upload_rate, raw: d }; break;
      case "lagged": loadAll().catch(() => {}); break;
      case "completed": refetchLater(d); toast(`Completed: ${d.name || d.id}`); break;
      case "metadata":
        refetchLater(d);
        if (pendingPick.has(String(d.id))) openPick(String(d.id));
        break;
      default: refetchLater(d); // added, state, error
    }
  });
  startPolling();
  setInterval(sample, SAMPLE_MS);
  sample();
}

// --- login (when the daemon has a password) -------------------------------------------
function needLogin() {
  return new Promise((resolve) => {
    const dlg = $("dlg-login");
    $("login-error").textContent = "";
    dlg.showModal();
    $("login-form").onsubmit = async (e) => {
      e.preventDefault();
      try {
        await api.login($("login-user").value || "shoal", $("login-pass").value);
        dlg.close(); resolve();
      } catch (err) { $("login-error").textContent = err.status === 429 ? "Too many attempts; wait a minute." : "Wrong user name or password."; }
    };
  });
}

start();
window.shoal = { list, detail, showView };
