#!/usr/bin/python3
"""Drives the daemon's web UI in Debian's headless chromium (Playwright).

Called by crates/shoal/tests/web_ui.rs with the daemon already running:

  webui_browser.py flow URL TORRENT ARTIFACTS    add TORRENT through the page, watch
                                                 it download and complete, detail view,
                                                 pause, remove; screenshots
  webui_browser.py security URL                  foreign Host header, cross-site form
                                                 post, cross-site fetch: all refused
  webui_browser.py many URL ARTIFACTS COUNT      add COUNT torrents over the API, load
                                                 the page, scroll the list; load timing

Prints one JSON line of findings last; exits non-zero on any failed check.
"""
import hashlib
import http.client
import json
import os
import socket
import sys
import time
import urllib.parse

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
STEP_MS = 30_000


def launch(p):
    return p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def console_error(errors, m):
    if m.type != "error":
        return
    where = (m.location or {}).get("url", "")
    # A torrent removed while the page still asked about it: the page
    # handles the 404 (drops the row), the browser logs it anyway.
    if "status of 404" in m.text and "/api/torrents/" in where:
        return
    errors.append(f"{m.text} ({where})")


def new_page(browser, errors, **kw):
    ctx = browser.new_context(viewport={"width": 1400, "height": 860}, **kw)
    page = ctx.new_page()
    page.set_default_timeout(STEP_MS)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: console_error(errors, m))
    return page


def api(url, method, path, body=None, headers=None):
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    h = {"X-Shoal-Csrf": "1"}
    if body is not None:
        body = json.dumps(body)
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, (json.loads(data) if data and data[:1] in b"[{" else data)


# Visible buttons, inputs and selects without an accessible name.
UNLABELLED_JS = """() => [...document.querySelectorAll('button, input, select, [role=tab], [role=grid]')]
  .filter(e => e.offsetParent !== null)
  .filter(e => !(e.getAttribute('aria-label') || (e.labels && e.labels.length) || e.textContent.trim() || e.title))
  .map(e => e.outerHTML.slice(0, 80))"""

# Visible text whose contrast with its background is under WCAG AA (4.5:1).
CONTRAST_JS = """() => {
  const lum = (c) => { const m = c.match(/[\\d.]+/g).map(Number);
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(m[0]) + 0.7152 * f(m[1]) + 0.0722 * f(m[2]); };
  const bg = (e) => { for (; e; e = e.parentElement) { const c = getComputedStyle(e).backgroundColor;
    const a = c.match(/[\\d.]+/g); if (a && (a.length < 4 || Number(a[3]) > 0.5)) return c; }
    return 'rgb(255,255,255)'; };
  const bad = [];
  for (const e of document.querySelectorAll('body *')) {
    if (e.offsetParent === null || e.closest('dialog:not([open]), .toast')) continue;
    if (![...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
    const st = getComputedStyle(e);
    if (st.opacity !== '1' || e.closest(':disabled')) continue;
    const a = lum(st.color), b = lum(bg(e));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) bad.push(e.tagName + '.' + e.className + ' ' + ratio.toFixed(2));
  }
  return bad; }"""


def row(page, name):
    return page.locator(".row.t", has=page.locator(".c-name", has_text=name))


def flow(url, torrent, artifacts):
    out = {}
    errors = []
    name = os.path.basename(torrent).rsplit(".", 1)[0]
    with sync_playwright() as p:
        browser = launch(p)
        page = new_page(browser, errors)
        page.goto(url)
        page.wait_for_selector("#list-empty:not([hidden])")
        # Add through the page: choose the file, see its file list, add.
        page.keyboard.press("a")
        page.wait_for_selector("#dlg-add[open]")
        page.set_input_files("#add-file", torrent)
        page.wait_for_selector("#add-files:not([hidden]) .fp")
        out["files_offered"] = page.locator("#add-file-list .fp").count()
        check(out["files_offered"] >= 1, "the add dialog lists the torrent's files")
        page.screenshot(path=os.path.join(artifacts, "add-dialog.png"))
        out["unlabelled_controls"] = page.evaluate(UNLABELLED_JS)
        check(not out["unlabelled_controls"], f"every control has a name: {out['unlabelled_controls']}")
        page.click("#add-submit")
        page.wait_for_selector("#dlg-add", state="hidden")
        r = row(page, name)
        r.wait_for()
        # Open the detail view while it downloads: the seeder is rate limited.
        r.click()
        page.wait_for_selector("#detail:not([hidden])")
        page.wait_for_function("Number(document.getElementById('piecemap').dataset.count || 0) > 0")
        page.wait_for_function(
            "(() => { const c = document.getElementById('piecemap').dataset;"
            " return Number(c.have) > 0 && Number(c.have) < Number(c.count); })()",
            timeout=60_000,
        )
        page.wait_for_timeout(4500)  # a few rate samples for the graph
        page.screenshot(path=os.path.join(artifacts, "detail-downloading.png"))
        page.click("#tab-peers")
        page.wait_for_selector("#peers-tbl tbody tr td:not(.hint)", timeout=20_000)
        out["peers_shown"] = page.locator("#peers-tbl tbody tr").count()
        page.screenshot(path=os.path.join(artifacts, "detail-peers.png"))
        # Completes.
        t0 = time.time()
        r.locator(".c-state", has_text="Seeding").wait_for(timeout=90_000)
        out["seconds_to_complete_after_detail"] = round(time.time() - t0, 1)
        check(r.locator(".pct").inner_text() == "100%", "the row shows 100%")
        page.click("#tab-overview")
        page.wait_for_function(
            "(() => { const c = document.getElementById('piecemap').dataset;"
            " return Number(c.count) > 0 && c.have === c.count; })()"
        )
        page.screenshot(path=os.path.join(artifacts, "detail-complete.png"))
        page.click("#tab-files")
        page.wait_for_selector("#files-tbl tbody tr")
        out["files_shown"] = page.locator("#files-tbl tbody tr").count()
        check(out["files_shown"] == out["files_offered"], "the files tab lists every file")
        check("100%" in page.locator("#files-tbl tbody").inner_text(), "files show 100%")
        page.screenshot(path=os.path.join(artifacts, "detail-files.png"))
        page.click("#tab-trackers")
        page.wait_for_selector("#trackers-tbl tbody tr")
        page.keyboard.press("Escape")
        page.wait_for_selector("#detail", state="hidden")
        page.screenshot(path=os.path.join(artifacts, "list.png"))
        out["unlabelled_controls"] += page.evaluate(UNLABELLED_JS)
        out["low_contrast_light"] = page.evaluate(CONTRAST_JS)
        check(not out["unlabelled_controls"], f"every control has a name: {out['unlabelled_controls']}")
        check(not out["low_contrast_light"], f"light theme text contrast: {out['low_contrast_light']}")
        # Pause with the keyboard (the row is selected), then check over the API.
        r.click()
        page.click("#act-pause")
        r.locator(".c-state", has_text="Paused").wait_for()
        st, lst = api(url, "GET", "/api/torrents")
        check(st == 200 and len(lst) == 1 and lst[0]["state"] == "paused", f"the daemon has it paused: {lst}")
        page.keyboard.press("Escape")  # the click opened the detail view again
        page.wait_for_selector("#detail", state="hidden")
        # Phone width, dark.
        page.set_viewport_size({"width": 390, "height": 844})
        page.emulate_media(color_scheme="dark")
        page.wait_for_timeout(300)
        page.screenshot(path=os.path.join(artifacts, "phone-dark.png"))
        out["low_contrast_dark"] = page.evaluate(CONTRAST_JS)
        check(not out["low_contrast_dark"], f"dark theme text contrast: {out['low_contrast_dark']}")
        r.click()
        page.wait_for_selector("#detail:not([hidden])")
        page.click("#tab-overview")
        page.wait_for_timeout(800)
        page.screenshot(path=os.path.join(artifacts, "phone-detail-dark.png"))
        page.keyboard.press("Escape")
        page.wait_for_selector("#detail", state="hidden")
        page.set_viewport_size({"width": 1400, "height": 860})
        st, info = api(url, "GET", f"/api/torrents/{lst[0]['id']}")
        magnet = info["magnet"]
        # Remove (keep data) through the dialog.
        page.click("#act-remove")
        page.wait_for_selector("#dlg-remove", state="visible")
        page.click("#rm-ok")
        page.wait_for_selector("#list-empty:not([hidden])")
        st, lst = api(url, "GET", "/api/torrents")
        check(st == 200 and lst == [], f"the daemon has no torrent left: {lst}")
        # The same torrent as a magnet link: it stops when its metadata is
        # in, the files are offered, and it runs to the end once started.
        page.keyboard.press("a")
        page.wait_for_selector("#dlg-add[open]")
        page.fill("#add-magnet", magnet)
        page.click("#add-submit")
        page.wait_for_selector("#dlg-pick[open] .fp", timeout=60_000)
        out["magnet_files_offered"] = page.locator("#pick-list .fp").count()
        check(out["magnet_files_offered"] == out["files_offered"], "the magnet's files are offered")
        page.screenshot(path=os.path.join(artifacts, "magnet-pick.png"))
        page.click("#dlg-pick button[type=submit]")
        r.locator(".c-state", has_text="Seeding").wait_for(timeout=90_000)
        r.click()
        page.click("#act-remove")
        page.wait_for_selector("#dlg-remove", state="visible")
        page.click("#rm-ok")
        page.wait_for_selector("#list-empty:not([hidden])")
        browser.close()
    out["page_errors"] = errors
    check(not errors, f"no errors in the page: {errors}")
    return out


def security(url):
    import base64

    out = {}
    u = urllib.parse.urlsplit(url)
    info = {"name": "victim.bin", "piece length": 16384, "length": 16384, "pieces": hashlib.sha1(b"v").digest()}
    st, victim = api(url, "POST", "/api/torrents", {"metainfo": base64.b64encode(bencode({"info": info})).decode()})
    check(st in (200, 201), f"a torrent to attack is added: {st} {victim}")
    vid = victim["id"]
    # 1. DNS rebinding: a foreign Host header.
    st, body = api(url, "GET", "/api/torrents", headers={"Host": f"evil.example:{u.port}"})
    out["foreign_host_status"] = st
    check(st == 421, f"foreign Host refused with 421, got {st}")
    st, _ = api(url, "GET", "/", headers={"Host": "evil.example"})
    out["foreign_host_page_status"] = st
    check(st == 421, f"foreign Host refused for the page too, got {st}")
    # 2. A cross-site form post (text/plain body shaped as JSON) and a
    # cross-site fetch, from a page of another origin.
    magnet = "magnet:?xt=urn:btih:" + hashlib.sha1(b"csrf").hexdigest()
    evil = (
        "<!doctype html><form id=f method=post enctype=text/plain action='%s/api/torrents'>"
        "<input name='{\"magnet\":\"%s\",\"x\":\"' value='\"}'></form>"
        "<script>document.getElementById('f').submit()</script>" % (url.rstrip("/"), magnet)
    )
    # The attacker's pages come from another origin on loopback (127.0.0.2):
    # the browser then sends the requests (it holds back ones from public
    # origins to loopback on its own), and the daemon must refuse them.
    evil_server = serve_pages({"/form": evil, "/blank": "<!doctype html><p>x</p>"})
    evil_origin = "http://127.0.0.2:%d" % evil_server.server_address[1]
    errors = []
    with sync_playwright() as p:
        browser = launch(p)
        page = new_page(browser, errors)
        with page.expect_response(lambda r: "/api/torrents" in r.url and r.request.method == "POST") as resp:
            page.goto(evil_origin + "/form")
        out["cross_site_form_status"] = resp.value.status
        check(resp.value.status == 403, f"cross-site form post refused with 403, got {resp.value.status}")
        page.goto(evil_origin + "/blank")
        with page.expect_response(lambda r: r.url.endswith("/pause")) as resp:
            page.evaluate(
                """async (u) => { try { await fetch(u, {method: 'POST', mode: 'no-cors', body: 'x'}); } catch (e) {} }""",
                url.rstrip("/") + f"/api/torrents/{vid}/pause",
            )
        out["cross_site_fetch_status"] = resp.value.status
        check(resp.value.status == 403, f"cross-site fetch refused with 403, got {resp.value.status}")
        browser.close()
    evil_server.shutdown()
    st, lst = api(url, "GET", "/api/torrents")
    check(st == 200 and len(lst) == 1, f"nothing was added by the cross-site post: {lst}")
    check(lst[0]["state"] != "paused", f"the cross-site fetch paused nothing: {lst}")
    out["victim_state"] = lst[0]["state"]
    return out


def serve_pages(pages):
    """Serves `pages` (path -> HTML) on 127.0.0.2, a free port, in a thread."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = pages.get(self.path, "").encode()
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.2", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def bencode(v):
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, str):
        return bencode(v.encode())
    if isinstance(v, list):
        return b"l" + b"".join(bencode(x) for x in v) + b"e"
    if isinstance(v, dict):
        return b"d" + b"".join(bencode(k) + bencode(v[k]) for k in sorted(v)) + b"e"
    raise TypeError(v)


def many(url, artifacts, count):
    import base64

    out = {}
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    c.connect()
    # Headers and body go out in two writes: without this each request
    # waits out a delayed ACK.
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t0 = time.time()
    for i in range(count):
        pieces = 1 + i % 40
        info = {
            "name": f"dataset-{i:05d}.bin",
            "piece length": 16384,
            "length": 16384 * pieces - (i % 7),
            "pieces": hashlib.sha1(b"%d" % i).digest() * pieces,
        }
        meta = base64.b64encode(bencode({"info": info})).decode()
        body = json.dumps({"metainfo": meta, "paused": True})
        c.request("POST", "/api/torrents", body=body, headers={"Content-Type": "application/json", "X-Shoal-Csrf": "1"})
        r = c.getresponse()
        r.read()
        check(r.status in (200, 201), f"add #{i}: status {r.status}")
    out["add_seconds"] = round(time.time() - t0, 2)
    c.close()
    errors = []
    with sync_playwright() as p:
        browser = launch(p)
        page = new_page(browser, errors)
        page.goto(url)
        page.wait_for_selector(".row.t")
        page.wait_for_function(f"document.getElementById('list-count').textContent.startsWith('{count} ')")
        nav = page.evaluate(
            """() => { const n = performance.getEntriesByType('navigation')[0];
                 return {dom_content_loaded_ms: Math.round(n.domContentLoadedEventEnd),
                         load_ms: Math.round(n.loadEventEnd),
                         first_rows_ms: Number(document.documentElement.dataset.firstRows)}; }"""
        )
        out.update(nav)
        out["rows_in_dom"] = page.locator(".row.t:not([hidden])").count()
        page.screenshot(path=os.path.join(artifacts, "list-2000.png"))
        # Scroll to the end by keyboard, then by wheel back up.
        page.focus("#list")
        page.keyboard.press("End")
        page.wait_for_selector(f'.row.t[aria-rowindex="{count + 1}"]:not([hidden])')
        last = page.locator(f'.row.t[aria-rowindex="{count + 1}"] .c-name').inner_text()
        out["last_row"] = last
        t1 = time.time()
        for _ in range(20):
            page.mouse.move(400, 400)
            page.mouse.wheel(0, -3000)
        page.wait_for_timeout(200)
        out["wheel_seconds"] = round(time.time() - t1, 2)
        out["rows_in_dom_after_scroll"] = page.locator(".row.t:not([hidden])").count()
        page.screenshot(path=os.path.join(artifacts, "list-2000-scrolled.png"))
        # Sort by size, descending: the largest first.
        page.click('#list-head-row [data-key="size"]')
        page.evaluate("document.getElementById('list').scrollTop = 0")
        page.wait_for_timeout(300)
        out["largest_first"] = page.locator('.row.t[aria-rowindex="2"] .c-name').inner_text()
        browser.close()
    out["page_errors"] = errors
    check(not errors, f"no errors in the page: {errors}")
    check(out["rows_in_dom"] < 200 and out["rows_in_dom_after_scroll"] < 200, "only the visible rows are in the document")
    check(last.startswith("dataset-"), f"the last row is drawn: {last}")
    return out


def main():
    mode = sys.argv[1]
    if mode == "flow":
        res = flow(sys.argv[2], sys.argv[3], sys.argv[4])
    elif mode == "security":
        res = security(sys.argv[2])
    elif mode == "many":
        res = many(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
