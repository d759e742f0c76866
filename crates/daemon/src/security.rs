//! What stands between the network and the APIs: the `Host` allow-list
//! (421), authentication (Basic or a login cookie; 401), the rate limit on
//! failed logins (429) and the CSRF rule for `/api/` (403).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::server::AppState;

/// Failed logins from one address allowed per window.
const MAX_FAILURES: u32 = 5;
/// The failed-login window.
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Most addresses tracked for failed logins.
const MAX_TRACKED: usize = 4096;
/// Most login sessions (cookies) alive at once.
const MAX_SESSIONS: usize = 1024;
/// Most verified credentials remembered (argon2 is slow on purpose: a
/// client polling with Basic auth pays it once).
const MAX_VERIFIED: usize = 64;
/// Lifetime of a login cookie.
const SESSION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// The cookie's name.
pub const COOKIE: &str = "shoal_session";
/// The CSRF header `/api/` requires on state-changing requests.
pub const CSRF_HEADER: &str = "x-shoal-csrf";

/// Authentication state.
#[derive(Debug)]
pub struct Security {
    username: String,
    password_hash: Option<String>,
    allowed_hosts: Vec<String>,
    verified: Mutex<Vec<[u8; 32]>>,
    sessions: Mutex<HashMap<String, Instant>>,
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Security {
    /// Rules from the config.
    pub fn new(
        username: String,
        password_hash: Option<String>,
        allowed_hosts: Vec<String>,
    ) -> Security {
        Security {
            username,
            password_hash,
            allowed_hosts,
            verified: Mutex::new(Vec::new()),
            sessions: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a password is required.
    pub fn auth_required(&self) -> bool {
        self.password_hash.is_some()
    }

    /// Whether `host` (the `Host` header) may be served.
    pub fn host_allowed(&self, host: &str) -> bool {
        let name = strip_port(host);
        if name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok() {
            return true;
        }
        self.allowed_hosts.iter().any(|a| {
            if let Some(suffix) = a.strip_prefix("*.") {
                name.len() > suffix.len() + 1
                    && name
                        .to_ascii_lowercase()
                        .ends_with(&format!(".{}", suffix.to_ascii_lowercase()))
            } else {
                a.eq_ignore_ascii_case(name)
            }
        })
    }

    /// Whether `ip` is locked out for failing too often; the seconds left.
    pub fn locked_out(&self, ip: IpAddr) -> Option<u64> {
        let f = lock(&self.failures);
        let (since, n) = f.get(&ip)?;
        let left = FAILURE_WINDOW.checked_sub(since.elapsed())?;
        (*n >= MAX_FAILURES).then(|| left.as_secs().max(1))
    }

    /// Count a failed login from `ip`.
    pub fn record_failure(&self, ip: IpAddr) {
        let mut f = lock(&self.failures);
        if f.len() >= MAX_TRACKED && !f.contains_key(&ip) {
            f.retain(|_, (since, _)| since.elapsed() < FAILURE_WINDOW);
            if f.len() >= MAX_TRACKED {
                return;
            }
        }
        let e = f.entry(ip).or_insert((Instant::now(), 0));
        if e.0.elapsed() >= FAILURE_WINDOW {
            *e = (Instant::now(), 0);
        }
        e.1 += 1;
    }

    /// Check a user name and password (argon2, on the blocking pool; a
    /// pair verified before is remembered by its SHA-256).
    pub async fn check_password(&self, user: &str, password: &str) -> bool {
        let Some(hash) = self.password_hash.clone() else {
            return true;
        };
        if user != self.username && !user.is_empty() {
            return false;
        }
        let digest: [u8; 32] = Sha256::digest(format!("{user}\0{password}")).into();
        if lock(&self.verified).contains(&digest) {
            return true;
        }
        let pw = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || {
            use argon2::password_hash::{PasswordHash, PasswordVerifier};
            PasswordHash::new(&hash)
                .map(|h| {
                    argon2::Argon2::default()
                        .verify_password(pw.as_bytes(), &h)
                        .is_ok()
                })
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        if ok {
            let mut v = lock(&self.verified);
            if v.len() >= MAX_VERIFIED {
                v.remove(0);
            }
            v.push(digest);
        }
        ok
    }

    /// Open a login session; returns the cookie value.
    pub fn new_session(&self) -> String {
        let token = hex::encode(rand::random::<[u8; 32]>());
        let mut s = lock(&self.sessions);
        s.retain(|_, t| t.elapsed() < SESSION_TTL);
        if s.len() >= MAX_SESSIONS {
            if let Some(oldest) = s.iter().min_by_key(|(_, t)| **t).map(|(k, _)| k.clone()) {
                s.remove(&oldest);
            }
        }
        s.insert(token.clone(), Instant::now());
        token
    }

    /// Close a login session.
    pub fn end_session(&self, token: &str) {
        lock(&self.sessions).remove(token);
    }

    fn session_valid(&self, token: &str) -> bool {
        lock(&self.sessions)
            .get(token)
            .is_some_and(|t| t.elapsed() < SESSION_TTL)
    }

    /// Whether a request's headers carry valid credentials.
    async fn authenticated(&self, headers: &HeaderMap) -> Result<bool, ()> {
        if let Some(token) = cookie(headers, COOKIE) {
            if self.session_valid(&token) {
                return Ok(true);
            }
        }
        let Some(auth) = headers.get(header::AUTHORIZATION) else {
            return Ok(false);
        };
        let Some(b64) = auth.to_str().ok().and_then(|a| a.strip_prefix("Basic ")) else {
            return Err(());
        };
        let Some(pair) = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
        else {
            return Err(());
        };
        let (user, pass) = pair.split_once(':').unwrap_or((pair.as_str(), ""));
        if self.check_password(user, pass).await {
            Ok(true)
        } else {
            Err(())
        }
    }
}

/// The value of cookie `name`, if sent.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    }
}

fn error(status: StatusCode, msg: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": msg }))).into_response()
}

/// Paths served to anyone (the web UI's static files: they hold no data).
fn public(path: &str, method: &Method) -> bool {
    let api = path.starts_with("/api/") || path == "/api";
    let other = path.starts_with("/transmission") || path == "/metrics";
    (!api && !other) || (path == "/api/login" && method == Method::POST)
}

/// The middleware: host, rate limit, authentication, CSRF.
pub async fn guard(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    app.count_request();
    let headers = req.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or("");
    let sec = &app.security;
    if !sec.host_allowed(host) {
        return error(
            StatusCode::MISDIRECTED_REQUEST,
            &format!("host {host:?} is not allowed (add it to [api] allowed_hosts)"),
        );
    }
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    if sec.auth_required() && !public(&path, &method) {
        if let Some(secs) = sec.locked_out(peer.ip()) {
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                "too many failed logins: try again later",
            );
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return r;
        }
        match sec.authenticated(headers).await {
            Ok(true) => {}
            result => {
                if result.is_err() {
                    sec.record_failure(peer.ip());
                }
                let mut r = error(StatusCode::UNAUTHORIZED, "authentication required");
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"shoal\""),
                );
                return r;
            }
        }
    }
    let changes = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
    if changes && (path.starts_with("/api/") || path == "/api") {
        if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
            let origin_host = origin.split_once("://").map_or(origin, |(_, h)| h);
            if origin != "null" && !origin_host.eq_ignore_ascii_case(host) {
                return error(StatusCode::FORBIDDEN, "cross-origin request refused");
            }
        }
        let has_csrf = headers
            .get(CSRF_HEADER)
            .is_some_and(|v| !v.as_bytes().is_empty());
        if !has_csrf {
            return error(StatusCode::FORBIDDEN, "missing X-Shoal-Csrf header");
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        let s = Security::new(
            "u".into(),
            None,
            vec!["box.lan".into(), "*.example.org".into()],
        );
        for ok in [
            "localhost:9091",
            "127.0.0.1:9091",
            "[::1]:9091",
            "box.lan",
            "a.example.org:1",
        ] {
            assert!(s.host_allowed(ok), "{ok}");
        }
        for bad in ["evil.com", "example.org", "box.lan.evil.com:9091", ""] {
            assert!(!s.host_allowed(bad), "{bad}");
        }
    }

    #[test]
    fn failures_lock_an_address_out() {
        let s = Security::new("u".into(), None, vec![]);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..MAX_FAILURES - 1 {
            s.record_failure(ip);
        }
        assert!(s.locked_out(ip).is_none());
        s.record_failure(ip);
        assert!(s.locked_out(ip).is_some());
        assert!(s.locked_out("10.0.0.2".parse().unwrap()).is_none());
    }

    #[tokio::test]
    async fn passwords_are_checked_against_the_hash() {
        let hash = crate::config::hash_password("secret").unwrap();
        let s = Security::new("shoal".into(), Some(hash), vec![]);
        assert!(s.check_password("shoal", "secret").await);
        assert!(s.check_password("shoal", "secret").await);
        assert!(!s.check_password("shoal", "wrong").await);
        assert!(!s.check_password("other", "secret").await);
    }
}
