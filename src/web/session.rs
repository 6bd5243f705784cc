//! The owner's sessions: a cookie signed with a key kept in the data directory, a small table
//! of live sessions (kept on disk so a restart does not sign the owner out), idle and absolute
//! expiry, and the anti-forgery tokens of every form a signed-in page shows.
//!
//! - **The cookie** is `__Host-brain-<8 hex>=<base64url(sid ‖ HMAC(key, "session" ‖ sid))>`:
//!   `Path=/; Secure; HttpOnly; SameSite=Strict`, no `Domain`, no `Max-Age` (it ends when the
//!   browser closes; the server ends it sooner, see below). The `__Host-` prefix makes the
//!   browser refuse the cookie unless it is `Secure`, host-only and `Path=/`, so no sibling
//!   host and no plain-HTTP page can plant or overwrite it (RFC 6265bis §4.1.3.2). `Secure` is
//!   kept on loopback too: browsers treat `http://127.0.0.1` and `http://localhost` as
//!   secure contexts and accept it there (Debian's Chromium does; the browser tests sign in
//!   over `http://127.0.0.1`), so "Secure unless on loopback" needs no exception and the
//!   prefix holds everywhere.
//! - **The name** carries 8 hex digits derived from the key: cookies are shared by every port
//!   of a host, so two brains on `127.0.0.1` would otherwise overwrite each other's session.
//! - **The key** (`web.key`, 32 random bytes, 0600) lives in the data directory: a cookie made
//!   by a server on another data directory fails the signature, whatever its name.
//! - **The table** holds only SHA-256 of each session id (`web-sessions.json`, rewritten
//!   atomically on sign-in and sign-out): someone who reads the data directory (a backup) has
//!   the key but not one live session id, so cannot make a cookie. Sign-out deletes the entry:
//!   the cookie is dead even if it was copied.
//! - **Expiry**: [`IDLE`] without a request, or [`ABSOLUTE`] after sign-in, whichever comes
//!   first (OWASP Session Management: both, because an idle timeout alone lets a stolen cookie
//!   live forever while it is used).

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::http::Request;
use crate::oauth::sign::hmac_sha256;
use crate::oauth::{hex, random_bytes, sha256};
use crate::time::unix_now;

/// A session ends after this many seconds without a request.
pub const IDLE: u64 = 30 * 60;
/// And at the latest this long after sign-in.
pub const ABSOLUTE: u64 = 12 * 3600;
/// Live sessions kept at most (the owner's phone, laptop, ...); a sign-in past it ends the
/// oldest. Only someone with the owner password can add one, so this bounds a forgetful owner,
/// not an attacker.
pub const MAX_SESSIONS: usize = 32;
/// The stored `seen` time is rewritten at most this often per session: after a restart a
/// session is judged idle by a time at most this old (it ends a little early, never late).
const PERSIST_SEEN_EVERY: u64 = 300;

pub const KEY_FILE: &str = "web.key";
pub const SESSIONS_FILE: &str = "web-sessions.json";
pub const COOKIE_PREFIX: &str = "__Host-brain-";

/// Who a session belongs to. The owner password makes [`Identity::Owner`]; sign-in through the
/// OpenID provider (issue 11, `super::provider`) makes [`Identity::Provider`]. Both go
/// through [`super::start_session`], the one function that starts a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Identity {
    /// Signed in with `BRAIN_OWNER_PASSWORD`.
    Owner,
    /// Signed in through the OpenID provider as this subject (the ID token's `sub`, which the
    /// owner rule accepted), with the email when the provider said it is verified. The email
    /// may be absent from tables written before it was recorded.
    Provider {
        issuer: String,
        subject: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        email: Option<String>,
    },
}

impl Identity {
    /// How a person reads it on the activity page.
    pub fn describe(&self) -> String {
        match self {
            Identity::Owner => "owner password".into(),
            Identity::Provider {
                issuer,
                subject,
                email: Some(email),
            } => format!("{email}, subject {subject}, at {issuer}"),
            Identity::Provider {
                issuer,
                subject,
                email: None,
            } => format!("subject {subject} at {issuer}"),
        }
    }
}

/// One live session as stored (only the digest of its id).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    /// SHA-256 of the session id, hex.
    h: String,
    who: Identity,
    created: u64,
    seen: u64,
    /// The client address it signed in from.
    from: String,
}

#[derive(Debug, Clone)]
struct Live {
    who: Identity,
    created: u64,
    seen: u64,
    seen_stored: u64,
    from: String,
}

/// The session a request carries, after every check.
#[derive(Debug, Clone)]
pub struct Current {
    sid: [u8; 16],
    pub who: Identity,
    pub created: u64,
}

/// A session listed on the activity page.
#[derive(Debug, Clone)]
pub struct Listed {
    pub who: Identity,
    pub created: u64,
    pub seen: u64,
    pub from: String,
    pub this_one: bool,
}

pub struct Sessions {
    key: [u8; 32],
    cookie_name: String,
    path: PathBuf,
    idle: u64,
    absolute: u64,
    live: Mutex<HashMap<[u8; 32], Live>>,
}

impl Sessions {
    /// Reads (or makes, on first start) the key, and loads the live sessions.
    pub fn open(dir: &Path) -> Result<Sessions, String> {
        let key = load_or_make_key(dir)?;
        let path = dir.join(SESSIONS_FILE);
        let (idle, absolute) = test_lifetimes();
        let s = Sessions {
            cookie_name: format!(
                "{COOKIE_PREFIX}{}",
                &hex(&hmac_sha256(&key, &[b"cookie name"]))[..8]
            ),
            key,
            path,
            idle,
            absolute,
            live: Mutex::new(HashMap::new()),
        };
        s.load();
        Ok(s)
    }

    pub fn cookie_name(&self) -> &str {
        &self.cookie_name
    }

    fn mac(&self, sid: &[u8; 16]) -> [u8; 32] {
        hmac_sha256(&self.key, &[b"session", sid])
    }

    /// Starts a session and returns the `Set-Cookie` value that carries it.
    pub fn start(&self, who: Identity, from: IpAddr) -> Result<String, std::io::Error> {
        let sid: [u8; 16] = random_bytes();
        let now = unix_now();
        let mut live = self.lock();
        self.sweep(&mut live, now);
        while live.len() >= MAX_SESSIONS {
            let oldest = live.iter().min_by_key(|(_, l)| l.created).map(|(h, _)| *h);
            match oldest {
                Some(h) => live.remove(&h),
                None => break,
            };
        }
        live.insert(
            sha256(&sid),
            Live {
                who,
                created: now,
                seen: now,
                seen_stored: now,
                from: from.to_string(),
            },
        );
        if let Err(e) = self.save(&live) {
            live.remove(&sha256(&sid));
            return Err(e);
        }
        let mut raw = Vec::with_capacity(48);
        raw.extend_from_slice(&sid);
        raw.extend_from_slice(&self.mac(&sid));
        Ok(format!(
            "{}={}; Path=/; Secure; HttpOnly; SameSite=Strict",
            self.cookie_name,
            URL_SAFE_NO_PAD.encode(raw)
        ))
    }

    /// The `Set-Cookie` value that makes the browser drop the cookie.
    pub fn clear_cookie(&self) -> String {
        format!(
            "{}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0",
            self.cookie_name
        )
    }

    /// The session id in a cookie value whose signature is ours.
    fn verified_sid(&self, value: &str) -> Option<[u8; 16]> {
        if value.len() != 64 {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(value).ok()?;
        let (sid, mac) = raw.split_at_checked(16)?;
        let sid: [u8; 16] = sid.try_into().ok()?;
        bool::from(self.mac(&sid).ct_eq(mac)).then_some(sid)
    }

    /// Every value of our cookie in the request's `Cookie` headers.
    fn cookie_values<'a>(&self, req: &'a Request) -> Vec<&'a str> {
        let mut out = Vec::new();
        for (name, value) in &req.headers {
            if name != "cookie" {
                continue;
            }
            let Ok(v) = std::str::from_utf8(value) else {
                continue;
            };
            for pair in v.split(';') {
                if let Some((n, val)) = pair.trim().split_once('=') {
                    if n == self.cookie_name {
                        out.push(val);
                    }
                }
            }
        }
        out
    }

    /// The request's live session, with its idle clock restarted. Sessions past their time
    /// are removed here.
    pub fn check(&self, req: &Request) -> Option<Current> {
        self.find(req, true)
    }

    /// [`Sessions::check`] without restarting the idle clock (for the admission check that
    /// runs before the body is read).
    pub fn peek(&self, req: &Request) -> bool {
        self.find(req, false).is_some()
    }

    fn find(&self, req: &Request, touch: bool) -> Option<Current> {
        let sids: Vec<[u8; 16]> = self
            .cookie_values(req)
            .into_iter()
            .filter_map(|v| self.verified_sid(v))
            .collect();
        if sids.is_empty() {
            return None;
        }
        let now = unix_now();
        let mut live = self.lock();
        let mut changed = false;
        let mut found = None;
        for sid in sids {
            let h = sha256(&sid);
            let Some(l) = live.get_mut(&h) else {
                continue;
            };
            if self.expired(l, now) {
                live.remove(&h);
                changed = true;
                continue;
            }
            if touch {
                l.seen = now;
                if now.saturating_sub(l.seen_stored) >= PERSIST_SEEN_EVERY {
                    l.seen_stored = now;
                    changed = true;
                }
            }
            found = Some(Current {
                sid,
                who: l.who.clone(),
                created: l.created,
            });
            break;
        }
        if changed {
            if let Err(e) = self.save(&live) {
                crate::log::line(&format!("web: could not save {SESSIONS_FILE}: {e}"));
            }
        }
        found
    }

    fn expired(&self, l: &Live, now: u64) -> bool {
        now.saturating_sub(l.seen) > self.idle || now.saturating_sub(l.created) > self.absolute
    }

    /// Ends the session: its entry is gone, so the cookie is refused from now on, wherever a
    /// copy of it is.
    pub fn end(&self, cur: &Current) -> Result<(), std::io::Error> {
        let mut live = self.lock();
        if live.remove(&sha256(&cur.sid)).is_some() {
            self.save(&live)?;
        }
        Ok(())
    }

    /// Ends every session.
    pub fn end_all(&self) -> Result<usize, std::io::Error> {
        let mut live = self.lock();
        let n = live.len();
        live.clear();
        self.save(&live)?;
        Ok(n)
    }

    /// The live sessions, newest first.
    pub fn list(&self, cur: &Current) -> Vec<Listed> {
        let now = unix_now();
        let mine = sha256(&cur.sid);
        let live = self.lock();
        let mut v: Vec<Listed> = live
            .iter()
            .filter(|(_, l)| !self.expired(l, now))
            .map(|(h, l)| Listed {
                who: l.who.clone(),
                created: l.created,
                seen: l.seen,
                from: l.from.clone(),
                this_one: *h == mine,
            })
            .collect();
        v.sort_by_key(|l| std::cmp::Reverse(l.created));
        v
    }

    /// An anti-forgery token for a form of this session doing `action` (`"forget:n_..."`,
    /// `"revoke"`): valid for as long as the session, for that action only. A page that
    /// another site frames or fetches cannot read it (no CORS, no framing), and a form posted
    /// from another site cannot guess it.
    pub fn form_token(&self, cur: &Current, action: &str) -> String {
        URL_SAFE_NO_PAD.encode(hmac_sha256(
            &self.key,
            &[b"form", &cur.sid, action.as_bytes()],
        ))
    }

    pub fn check_form_token(&self, cur: &Current, action: &str, token: &str) -> bool {
        let want = self.form_token(cur, action);
        want.len() == token.len() && bool::from(want.as_bytes().ct_eq(token.as_bytes()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Live>> {
        self.live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn sweep(&self, live: &mut HashMap<[u8; 32], Live>, now: u64) {
        live.retain(|_, l| !self.expired(l, now));
    }

    fn load(&self) {
        let bytes = match fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => {
                crate::log::line(&format!(
                    "web: cannot read {SESSIONS_FILE} ({e}); every session is signed out"
                ));
                return;
            }
        };
        // A damaged file costs the owner one sign-in, never the start of the server.
        let stored: Vec<Stored> = match serde_json::from_slice(&bytes) {
            Ok(s) => s,
            Err(e) => {
                crate::log::line(&format!(
                    "web: {SESSIONS_FILE} does not parse ({e}); every session is signed out"
                ));
                return;
            }
        };
        let now = unix_now();
        let mut live = self.lock();
        for s in stored.into_iter().take(MAX_SESSIONS) {
            let Some(h) = unhex32(&s.h) else { continue };
            let l = Live {
                who: s.who,
                created: s.created,
                seen: s.seen,
                seen_stored: s.seen,
                from: s.from,
            };
            if !self.expired(&l, now) {
                live.insert(h, l);
            }
        }
    }

    /// Writes the table: a temporary file, fsync, rename over the old one, fsync the
    /// directory. The file is either the old table or the new one.
    fn save(&self, live: &HashMap<[u8; 32], Live>) -> Result<(), std::io::Error> {
        let stored: Vec<Stored> = live
            .iter()
            .map(|(h, l)| Stored {
                h: hex(h),
                who: l.who.clone(),
                created: l.created,
                seen: l.seen,
                from: l.from.clone(),
            })
            .collect();
        let json = serde_json::to_vec(&stored).map_err(std::io::Error::other)?;
        write_atomically(&self.path, &json)
    }
}

fn unhex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// `path` holds `bytes` (0600) or what it held before, never a part.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), std::io::Error> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    sync_dir(path)
}

fn sync_dir(path: &Path) -> Result<(), std::io::Error> {
    match path.parent() {
        Some(dir) => File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

/// The signing key: 32 bytes in `web.key`, made from the OS CSPRNG on first start. Deleting
/// the file signs every session out (the next start makes a new key).
fn load_or_make_key(dir: &Path) -> Result<[u8; 32], String> {
    let path = dir.join(KEY_FILE);
    let shown = path.display();
    match File::open(&path) {
        Ok(mut f) => {
            let mut raw = Vec::new();
            Read::by_ref(&mut f)
                .take(33)
                .read_to_end(&mut raw)
                .map_err(|e| format!("cannot read {shown}: {e}"))?;
            raw.as_slice().try_into().map_err(|_| {
                format!(
                    "{shown} is not a 32-byte key; delete it and restart (that signs every web session out)"
                )
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key: [u8; 32] = random_bytes();
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| format!("cannot create {shown}: {e}"))?;
            f.write_all(&key)
                .and_then(|()| f.sync_all())
                .and_then(|()| sync_dir(&path))
                .map_err(|e| format!("cannot write {shown}: {e}"))?;
            Ok(key)
        }
        Err(e) => Err(format!("cannot open {shown}: {e}")),
    }
}

/// The session lifetimes, shortened by tests of debug builds (`BRAIN_MCP_TEST_HOOKS` with
/// `BRAIN_WEB_TEST_IDLE` / `BRAIN_WEB_TEST_ABSOLUTE`, in seconds) so that expiry can be
/// watched from outside. A release build always uses [`IDLE`] and [`ABSOLUTE`].
fn test_lifetimes() -> (u64, u64) {
    #[cfg(debug_assertions)]
    if std::env::var_os("BRAIN_MCP_TEST_HOOKS").is_some() {
        let get = |k: &str, d: u64| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(d)
        };
        return (
            get("BRAIN_WEB_TEST_IDLE", IDLE),
            get("BRAIN_WEB_TEST_ABSOLUTE", ABSOLUTE),
        );
    }
    (IDLE, ABSOLUTE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "brain-web-session-{tag}-{}-{}",
            std::process::id(),
            unix_now()
        ));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn req_with_cookie(cookie: &str) -> Request {
        Request {
            method: "GET".into(),
            path: "/notes".into(),
            query: None,
            headers: vec![("cookie".into(), cookie.as_bytes().to_vec())],
            body: Vec::new(),
            client: "127.0.0.1".parse().unwrap(),
        }
    }

    fn pair(set_cookie: &str) -> String {
        set_cookie.split(';').next().unwrap().to_string()
    }

    #[test]
    fn a_session_survives_reopening_and_ends_on_sign_out() {
        let d = dir("reopen");
        let s = Sessions::open(&d).unwrap();
        let c = pair(
            &s.start(Identity::Owner, "127.0.0.1".parse().unwrap())
                .unwrap(),
        );
        let cur = s.check(&req_with_cookie(&c)).unwrap();
        assert_eq!(cur.who, Identity::Owner);
        // The table on disk holds the digest, never the session id or the cookie.
        let file = fs::read_to_string(d.join(SESSIONS_FILE)).unwrap();
        let value = c.split_once('=').unwrap().1;
        assert!(!file.contains(value));
        assert!(file.contains(&hex(&sha256(&cur.sid))));
        let again = Sessions::open(&d).unwrap();
        assert_eq!(again.cookie_name(), s.cookie_name());
        let cur2 = again.check(&req_with_cookie(&c)).unwrap();
        again.end(&cur2).unwrap();
        assert!(again.check(&req_with_cookie(&c)).is_none());
        assert!(Sessions::open(&d)
            .unwrap()
            .check(&req_with_cookie(&c))
            .is_none());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn another_key_refuses_the_cookie_and_tokens_are_bound() {
        let (d1, d2) = (dir("k1"), dir("k2"));
        let a = Sessions::open(&d1).unwrap();
        let b = Sessions::open(&d2).unwrap();
        assert_ne!(a.cookie_name(), b.cookie_name());
        let c = pair(&a.start(Identity::Owner, "::1".parse().unwrap()).unwrap());
        let value = c.split_once('=').unwrap().1;
        let as_b = format!("{}={value}", b.cookie_name());
        assert!(b.check(&req_with_cookie(&as_b)).is_none());
        assert!(b.verified_sid(value).is_none());
        let cur = a.check(&req_with_cookie(&c)).unwrap();
        let t = a.form_token(&cur, "forget:n_1");
        assert!(a.check_form_token(&cur, "forget:n_1", &t));
        assert!(!a.check_form_token(&cur, "forget:n_2", &t));
        assert!(!a.check_form_token(&cur, "forget:n_1", ""));
        // A tampered cookie is refused.
        let mut bad = value.to_string().into_bytes();
        bad[0] = if bad[0] == b'A' { b'B' } else { b'A' };
        let bad = format!("{}={}", a.cookie_name(), String::from_utf8(bad).unwrap());
        assert!(a.check(&req_with_cookie(&bad)).is_none());
        fs::remove_dir_all(&d1).unwrap();
        fs::remove_dir_all(&d2).unwrap();
    }

    #[test]
    fn a_bad_key_file_is_an_error_naming_it() {
        let d = dir("badkey");
        fs::write(d.join(KEY_FILE), b"short").unwrap();
        let e = Sessions::open(&d).err().unwrap();
        assert!(e.contains("web.key is not a 32-byte key"), "{e}");
        fs::remove_dir_all(&d).unwrap();
    }
}
