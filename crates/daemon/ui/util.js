// Formatting helpers and a small bencode reader (for the file list of a
// .torrent chosen in the add dialog, before it is sent to the daemon).

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** Bytes as "1.5 GiB". */
export function fmtBytes(n) {
  if (n == null || !isFinite(n)) return "—";
  let i = 0;
  while (n >= 1024 && i < UNITS.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n.toFixed(0) : n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0)) + " " + UNITS[i];
}

/** Bytes per second as "1.5 MiB/s"; empty for zero. */
export function fmtRate(n, zero = "") {
  if (!n) return zero;
  return fmtBytes(n) + "/s";
}

/** Seconds as "3h 12m"; "∞" for unknown. */
export function fmtEta(s) {
  if (s == null || s < 0 || !isFinite(s)) return "∞";
  s = Math.round(s);
  if (s < 60) return s + "s";
  const m = Math.floor(s / 60);
  if (m < 60) return m + "m " + (s % 60) + "s";
  const h = Math.floor(m / 60);
  if (h < 48) return h + "h " + (m % 60) + "m";
  return Math.floor(h / 24) + "d " + (h % 24) + "h";
}

export function fmtPct(p) {
  if (p == null) return "—";
  const v = p * 100;
  return (v >= 100 ? "100" : v === 0 ? "0" : v.toFixed(1)) + "%";
}

export function fmtRatio(r) {
  if (r == null || !isFinite(r)) return "∞";
  return r.toFixed(2);
}

export function fmtTime(t) {
  if (!t) return "—";
  const d = new Date(t * 1000);
  return d.toLocaleString();
}

/** First defined value among `keys` of `o`. */
export function pick(o, ...keys) {
  for (const k of keys) if (o != null && o[k] !== undefined && o[k] !== null) return o[k];
  return undefined;
}

/** A tiny element builder: h("td", {class: "num"}, "text", child...). */
export function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  if (attrs) for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k in e && typeof v !== "string") e[k] = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of kids) if (c != null) e.append(c instanceof Node ? c : String(c));
  return e;
}

/** Decodes bencoded bytes (Uint8Array). Byte strings come back as Uint8Array. */
export function bdecode(buf) {
  let i = 0;
  const dec = new TextDecoder();
  function any(depth) {
    if (depth > 64) throw new Error("nested too deep");
    const c = buf[i];
    if (c === 0x69) { // i
      const e = buf.indexOf(0x65, i);
      if (e < 0) throw new Error("bad integer");
      const v = Number(dec.decode(buf.subarray(i + 1, e)));
      i = e + 1;
      return v;
    }
    if (c === 0x6c) { // l
      i++;
      const out = [];
      while (buf[i] !== 0x65) { if (i >= buf.length) throw new Error("unterminated list"); out.push(any(depth + 1)); }
      i++;
      return out;
    }
    if (c === 0x64) { // d
      i++;
      const out = {};
      while (buf[i] !== 0x65) {
        if (i >= buf.length) throw new Error("unterminated dict");
        const k = dec.decode(str());
        out[k] = any(depth + 1);
      }
      i++;
      return out;
    }
    if (c >= 0x30 && c <= 0x39) return str();
    throw new Error("bad bencode at " + i);
  }
  function str() {
    const colon = buf.indexOf(0x3a, i);
    if (colon < 0) throw new Error("bad string");
    const n = Number(dec.decode(buf.subarray(i, colon)));
    if (!Number.isInteger(n) || colon + 1 + n > buf.length) throw new Error("bad string length");
    const s = buf.subarray(colon + 1, colon + 1 + n);
    i = colon + 1 + n;
    return s;
  }
  return any(0);
}

/** The name and files ({path, length}) of a .torrent's bytes (v1, v2 or hybrid). */
export function torrentFiles(bytes) {
  const meta = bdecode(bytes);
  const info = meta && meta.info;
  if (!info || typeof info !== "object") throw new Error("not a .torrent file (no info dictionary)");
  const dec = new TextDecoder();
  const name = info.name ? dec.decode(info.name) : "(unnamed)";
  const files = [];
  if (Array.isArray(info.files)) {
    for (const f of info.files) {
      if (f.attr && dec.decode(f.attr).includes("p")) continue; // BEP 47 padding
      const parts = (f["path.utf-8"] || f.path || []).map((p) => dec.decode(p));
      files.push({ path: name + "/" + parts.join("/"), length: f.length || 0 });
    }
  } else if (typeof info.length === "number") {
    files.push({ path: name, length: info.length });
  } else if (info["file tree"]) {
    (function walk(node, prefix) {
      for (const [k, v] of Object.entries(node)) {
        if (k === "" && v.length !== undefined) files.push({ path: prefix.join("/"), length: v.length });
        else walk(v, prefix.concat(k));
      }
    })(info["file tree"], [name]);
    if (files.length === 1) files[0].path = name;
  }
  return { name, files };
}

/** Base64 of bytes. */
export function toBase64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** Bytes of a base64 string. */
export function fromBase64(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
