// The daemon's REST API and event stream, seen from the page. Every raw
// object the daemon sends goes through a norm* function here, so the rest
// of the UI depends on one shape only.

import { pick, fromBase64 } from "./util.js";

/** Thrown for a non-2xx answer; `message` carries the daemon's error text. */
export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function request(method, path, body, { raw = null } = {}) {
  const headers = { Accept: "application/json" };
  // The daemon refuses state-changing requests without this header: a
  // cross-site page cannot add it without a CORS preflight (docs/api.md).
  if (method !== "GET" && method !== "HEAD") headers["X-Shoal-Csrf"] = "1";
  let payload;
  if (raw) { headers["Content-Type"] = raw.type; payload = raw.body; }
  else if (body !== undefined) { headers["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
  const res = await fetch("api/" + path, { method, headers, body: payload, credentials: "same-origin" });
  const text = await res.text();
  let data = null;
  if (text) { try { data = JSON.parse(text); } catch { data = text; } }
  if (!res.ok) {
    const msg = (data && typeof data === "object" && (data.error || data.message)) || (typeof data === "string" && data) || res.statusText;
    throw new ApiError(res.status, String(msg));
  }
  return data;
}

/** The session (version, settings); a 401 means a login is needed. */
export async function getSession() { return normSession(await request("GET", "session")); }
export async function getSettings() { return normSession({ settings: await request("GET", "settings") }); }
export async function setSettings(patch) { return normSession({ settings: await request("PATCH", "settings", patch) }); }
export async function getStats() { return request("GET", "stats"); }
export async function login(username, password) { return request("POST", "login", { username, password }); }

export async function listTorrents() {
  const d = await request("GET", "torrents");
  const arr = Array.isArray(d) ? d : pick(d, "torrents", "items") || [];
  return arr.map(normTorrent);
}
export async function getTorrent(id) { return normTorrent(await request("GET", `torrents/${enc(id)}`)); }
export async function getFiles(id) {
  const d = await request("GET", `torrents/${enc(id)}/files`);
  return (Array.isArray(d) ? d : pick(d, "files") || []).map(normFile);
}
export async function getPeers(id) {
  const d = await request("GET", `torrents/${enc(id)}/peers`);
  return (Array.isArray(d) ? d : pick(d, "peers") || []).map(normPeer);
}
/** Trackers: the detail's tiers, with status where the daemon reports it. */
export async function getTrackers(id) {
  const d = await request("GET", `torrents/${enc(id)}`);
  const tiers = pick(d, "trackers") || [];
  const out = [];
  tiers.forEach((tier, i) => {
    for (const tr of Array.isArray(tier) ? tier : [tier]) out.push(normTracker(typeof tr === "string" ? { url: tr, tier: i } : { tier: i, ...tr }));
  });
  return out;
}
export async function getPieces(id) { return normPieces(await request("GET", `torrents/${enc(id)}/pieces`)); }

/**
 * Adds a torrent: `src` is {metainfo: base64}, {magnet} or {url}. With
 * `opts.wanted`/`opts.priorities` (arrays by file index) it is added paused,
 * its files are set, and then it is resumed unless `opts.paused`: nothing is
 * downloaded before the choice is in.
 */
export async function addTorrent(src, opts) {
  const body = { ...src };
  const choose = !!opts.wanted;
  if (opts.paused || choose) body.paused = true;
  if (opts.dir) body.download_dir = opts.dir;
  const d = await request("POST", "torrents", body);
  const t = d && typeof d === "object" ? normTorrent(d) : null;
  if (t && choose) {
    try {
      await setFiles(t.id, opts.wanted, opts.priorities);
    } catch (e) {
      // Added but paused: nothing is downloaded that was not chosen.
      throw new ApiError(e.status, `added paused, but the file choice failed: ${e.message}`);
    }
    if (!opts.paused) await action(t.id, "resume");
  }
  return t;
}

export async function action(id, what) { return request("POST", `torrents/${enc(id)}/${what}`); }
/** One action (pause, resume, recheck, remove) on many torrents at once. */
export async function bulk(what, ids, extra = {}) { return request("POST", `torrents/${what}`, { ids, ...extra }); }
export async function remove(id, deleteData) {
  return request("DELETE", `torrents/${enc(id)}${deleteData ? "?delete_data=true" : ""}`);
}
/**
 * Sets which files are wanted and their priorities (arrays by file index):
 * one PATCH per distinct (wanted, priority) pair.
 */
export async function setFiles(id, wanted, priorities) {
  const groups = new Map();
  wanted.forEach((w, i) => {
    const p = priorities && priorities[i] && priorities[i] !== "skip" ? priorities[i] : "normal";
    const key = w ? "1" + p : "0";
    if (!groups.has(key)) groups.set(key, { indices: [], wanted: !!w, ...(w ? { priority: p } : {}) });
    groups.get(key).indices.push(i);
  });
  let files = null;
  for (const g of groups.values()) files = await request("PATCH", `torrents/${enc(id)}/files`, g);
  return files;
}

function enc(id) { return encodeURIComponent(id); }

// --- shapes -------------------------------------------------------------

const STATES = ["downloading", "seeding", "paused", "queued", "checking", "error", "metadata", "stopped"];

function normState(raw, t) {
  let s = String(raw || "").toLowerCase();
  if (s.includes("seed") || s === "finished" || s === "complete") s = "seeding";
  else if (s.includes("check") || s.includes("verif")) s = "checking";
  else if (s.includes("queue")) s = "queued";
  else if (s.includes("pause") || s === "stopped") s = "paused";
  else if (s.includes("meta")) s = "metadata";
  else if (s.includes("err")) s = "error";
  else if (s.includes("down") || s === "active" || s === "live") s = "downloading";
  if (!STATES.includes(s)) s = t.progress >= 1 ? "seeding" : "downloading";
  return s;
}

/** A torrent as the list and detail view use it. */
export function normTorrent(r) {
  const t = {};
  t.id = String(pick(r, "id", "info_hash", "hash"));
  t.hash = pick(r, "info_hash", "hash", "id");
  t.name = pick(r, "name") || t.hash;
  t.size = pick(r, "total_size", "size", "length", "total_length") ?? 0;
  let p = pick(r, "progress", "percent_done");
  if (p == null) {
    const done = pick(r, "have_bytes", "completed", "bytes_done");
    p = t.size ? (done || 0) / t.size : 0;
  }
  t.progress = p > 1 ? p / 100 : p;
  t.down = pick(r, "download_rate", "down_rate", "rate_down", "dl_rate") ?? 0;
  t.up = pick(r, "upload_rate", "up_rate", "rate_up", "ul_rate") ?? 0;
  t.downloaded = pick(r, "downloaded", "downloaded_ever", "bytes_downloaded") ?? 0;
  t.uploaded = pick(r, "uploaded", "uploaded_ever", "bytes_uploaded") ?? 0;
  t.peers = pick(r, "peers", "num_peers", "peers_connected") ?? 0;
  if (Array.isArray(t.peers)) t.peers = t.peers.length;
  t.seeds = pick(r, "seeds", "num_seeds");
  t.ratio = pick(r, "ratio") ?? (t.downloaded ? t.uploaded / t.downloaded : t.uploaded ? Infinity : 0);
  t.eta = pick(r, "eta", "eta_secs", "eta_seconds");
  if (t.eta == null && t.down > 0) t.eta = (t.size * (1 - t.progress)) / t.down;
  t.error = pick(r, "error", "error_string") || "";
  t.state = normState(pick(r, "state", "status"), t);
  if (t.error && t.state !== "paused") t.state = "error";
  t.dir = pick(r, "download_dir", "dir", "save_path");
  t.added = pick(r, "added_at", "added", "added_date");
  t.pieceCount = pick(r, "piece_count", "pieces_count", "num_pieces");
  t.pieceLength = pick(r, "piece_length");
  t.labels = pick(r, "labels") || [];
  t.magnet = pick(r, "magnet", "magnet_link");
  t.hasMetadata = pick(r, "has_metadata") ?? (t.state !== "metadata");
  t.raw = r;
  return t;
}

/** Merges a partial update (raw keys) into a normalized torrent. */
export function mergeTorrent(old, patch) { return normTorrent({ ...(old ? old.raw : {}), ...patch }); }

export function normFile(r, i) {
  const length = pick(r, "length", "size") ?? 0;
  let p = pick(r, "progress");
  if (p == null) p = length ? (pick(r, "downloaded", "bytes_completed", "have_bytes") ?? 0) / length : 1;
  const prio = pick(r, "priority");
  return {
    index: pick(r, "index", "id") ?? i,
    path: Array.isArray(r.path) ? r.path.join("/") : pick(r, "path", "name") || "",
    length, progress: p > 1 ? p / 100 : p,
    wanted: pick(r, "wanted", "selected") ?? (prio !== "skip" && prio !== 0 && prio !== "off"),
    priority: normPriority(prio),
  };
}

function normPriority(p) {
  if (p == null) return "normal";
  if (typeof p === "number") return p <= 0 ? "skip" : p < 4 ? "low" : p < 6 ? "normal" : "high";
  p = String(p).toLowerCase();
  return ["skip", "low", "normal", "high"].includes(p) ? p : "normal";
}

export function normPeer(r) {
  const addr = pick(r, "address", "addr", "ip") || "?";
  const port = pick(r, "port");
  return {
    addr: port && !String(addr).includes(":") ? `${addr}:${port}` : String(addr),
    client: pick(r, "client", "client_name", "agent") || "",
    down: pick(r, "download_rate", "down_rate", "rate_down") ?? 0,
    up: pick(r, "upload_rate", "up_rate", "rate_up") ?? 0,
    downloaded: pick(r, "downloaded", "bytes_downloaded", "received") ?? 0,
    uploaded: pick(r, "uploaded", "bytes_uploaded", "sent") ?? 0,
    progress: (() => { const p = pick(r, "progress") ?? 0; return p > 1 ? p / 100 : p; })(),
    connected: pick(r, "connected") ?? true,
    flags: peerFlags(r),
  };
}

function peerFlags(r) {
  const f = pick(r, "flags");
  if (typeof f === "string") return f;
  let s = "";
  if (r.am_interested) s += r.peer_choking ? "d" : "D";
  if (r.peer_interested) s += r.am_choking ? "u" : "U";
  if (r.outgoing === false || r.direction === "incoming") s += "I";
  if (r.snubbed) s += "S";
  if (r.encrypted) s += "E";
  if (r.transport === "utp") s += "P";
  return s;
}

export function normTracker(r) {
  return {
    url: pick(r, "url", "announce") || "",
    tier: pick(r, "tier") ?? 0,
    status: pick(r, "status", "state", "last_result") || "",
    message: pick(r, "message", "error", "last_error") || "",
    peers: pick(r, "peers", "last_peers", "num_peers"),
    next: pick(r, "next_announce", "next_announce_in"),
  };
}

/**
 * Piece state: `have` (Uint8Array bitfield, MSB first), `downloading`
 * (array of indices), `availability` (array of copy counts or null).
 */
export function normPieces(r) {
  const count = pick(r, "piece_count", "count", "num_pieces") ?? 0;
  let have = pick(r, "bitfield", "have");
  if (typeof have === "string") {
    if (/^[0-9a-f]*$/i.test(have) && have.length === Math.ceil(count / 8) * 2) {
      const b = new Uint8Array(have.length / 2);
      for (let i = 0; i < b.length; i++) b[i] = parseInt(have.substr(i * 2, 2), 16);
      have = b;
    } else have = fromBase64(have);
  } else if (Array.isArray(have) && have.length === count && count > 0 && have.every((x) => x === 0 || x === 1 || x === true || x === false)) {
    const b = new Uint8Array(Math.ceil(count / 8));
    have.forEach((x, i) => { if (x) b[i >> 3] |= 0x80 >> (i & 7); });
    have = b;
  } else if (!(have instanceof Uint8Array)) have = new Uint8Array(Math.ceil(count / 8));
  let avail = pick(r, "availability");
  if (typeof avail === "string") avail = Array.from(fromBase64(avail));
  return { count, have, downloading: pick(r, "downloading", "partial") || [], availability: Array.isArray(avail) ? avail : null };
}

export function normSession(r) {
  r = r || {};
  const s = pick(r, "settings") || r;
  return {
    altDownloadLimit: pick(s, "alt_download_limit"), altUploadLimit: pick(s, "alt_upload_limit"), altEnabled: !!pick(s, "alt_enabled"),
    authRequired: !!pick(r, "auth_required"),
    downloadLimit: pick(s, "download_limit", "download_rate_limit", "speed_limit_down"),
    uploadLimit: pick(s, "upload_limit", "upload_rate_limit", "speed_limit_up"),
    version: pick(r, "version"),
    downloadDir: pick(s, "download_dir", "default_download_dir"),
    raw: r,
  };
}

/**
 * Opens the event stream (docs/api.md). `on(kind, data)` gets the daemon's
 * events by name (`added`, `metadata`, `state`, `completed`, `error`,
 * `removed`, `stats`, `lagged`, and `update`: an array of changed torrent
 * summaries), plus `open` and `lost` for the link itself.
 */
export function openEvents(on) {
  let es = null;
  let retry = 1000;
  const KINDS = ["added", "metadata", "state", "completed", "error", "removed", "stats", "lagged", "update"];
  function connect() {
    es = new EventSource("api/events");
    es.onopen = () => { retry = 1000; on("open"); };
    es.onerror = () => {
      on("lost");
      es.close();
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 15000);
    };
    for (const k of KINDS) {
      es.addEventListener(k, (ev) => {
        let d = null;
        try { d = ev.data ? JSON.parse(ev.data) : null; } catch { return; }
        on(k, d);
      });
    }
  }
  connect();
  return () => es && es.close();
}
