//! Issued tokens, grants and registered clients: an append-only JSON-lines log
//! (`oauth.jsonl` in the data directory) replayed into memory at start.
//!
//! Tokens and secrets are stored only as SHA-256 hashes: a copy of the data directory does
//! not hand out access. Refresh tokens, grants and registered clients are fsynced before the
//! response that reveals them; `client_credentials` access tokens are written without waiting
//! (a crash can lose the last moment's tokens; those clients re-authenticate on 401).

use std::collections::{HashMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::scope::Scope;
use super::{hex, random_secret, sha256};
use crate::error::Error;
use crate::time::unix_now;

type Hash = [u8; 32];

/// Live access tokens one client holds under one grant (or, for `client_credentials`, under
/// none). Issuing one more revokes that owner's oldest: a client that asks for a token on
/// every call, or a stolen secret used in a loop, cannot grow memory or the store without
/// bound. Well-behaved clients reuse a token until it expires and hold one or two.
pub const MAX_LIVE_ACCESS_PER_OWNER: usize = 100;

/// Dead records (expired, revoked or evicted) the file may carry beyond its live ones before
/// it is rewritten while the server runs.
const COMPACT_SLACK: usize = 10_000;
/// The same in bytes: a registration can be 20 KiB (ten 2,000-character redirect URIs), so a
/// count of records alone would let dead registrations grow the file by hundreds of MiB.
const COMPACT_SLACK_BYTES: u64 = 4 << 20;

/// Registered clients that no authorization has used yet, at most. They cost nothing to make
/// (registration is open while an owner password is set), so a stranger could make them
/// forever; past this number the oldest unused one is dropped for the new one. Clients the
/// owner approved are never dropped for this.
pub const MAX_UNUSED_CLIENTS: usize = 100;
/// A registered client that no authorization has used within this time is forgotten.
pub const UNUSED_CLIENT_TTL: u64 = 24 * 3600;

/// A client registered through RFC 7591.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RegisteredClient {
    pub client_id: String,
    /// SHA-256 (hex) of the secret; `None` for public clients (`none`).
    pub secret_hash: Option<String>,
    pub auth_method: String,
    pub redirect_uris: Vec<String>,
    pub client_name: Option<String>,
    pub grant_types: Vec<String>,
    pub created: u64,
    /// When an authorization first used this client (a grant was created for it). `None`:
    /// never used, and forgotten [`UNUSED_CLIENT_TTL`] after `created`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_used: Option<u64>,
}

impl RegisteredClient {
    fn expired_unused(&self, now: u64) -> bool {
        self.first_used.is_none() && now >= self.created.saturating_add(UNUSED_CLIENT_TTL)
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
enum Record {
    Access {
        h: String,
        client: String,
        grant: Option<String>,
        res: String,
        exp: u64,
    },
    Grant {
        id: String,
        client: String,
        res: String,
        at: u64,
        /// The client's name and the host it was sent back to, as the owner approved them
        /// (for `brain-mcp grants`; a metadata document's client is not stored otherwise).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        redirect: Option<String>,
        /// What the owner granted ([`Scope::to_scope_string`]); absent: everything (grants
        /// made before scopes existed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scope: Option<String>,
        /// The owner reviews its writes before other clients see them (issue 12).
        #[serde(default, skip_serializing_if = "is_false")]
        review: bool,
    },
    /// The owner turned review of a grant's writes on or off (`brain-mcp review`).
    Review {
        grant: String,
        on: bool,
    },
    Refresh {
        h: String,
        grant: String,
        exp: u64,
    },
    RevokeGrant {
        id: String,
    },
    RevokeAccess {
        h: String,
    },
    Client(RegisteredClient),
    RevokeClient {
        id: String,
    },
    Used {
        grant: String,
        at: u64,
    },
}

/// What the owner saw when approving a grant.
#[derive(Debug, Default, Clone)]
pub struct GrantInfo {
    pub name: Option<String>,
    pub redirect: Option<String>,
    pub scope: Scope,
    pub review: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A redirect host as [`redirect_host`] makes it.
fn valid_redirect_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'[' | b']' | b':' | b'+')
        })
}

/// The host a redirect URI sends to (`claude.ai`, `127.0.0.1`), or `scheme:` for a native
/// app's private-use scheme.
pub fn redirect_host(uri: &str) -> Option<String> {
    let h = match crate::config::parse_url(uri) {
        Some(u) => u.host.to_ascii_lowercase(),
        None => format!("{}:", uri.split_once(':')?.0.to_ascii_lowercase()),
    };
    valid_redirect_host(&h).then_some(h)
}

/// Grant IDs as [`Store::create_grant`] makes them: `g_` and 16 base64url characters.
pub fn valid_grant_id(id: &str) -> bool {
    id.len() == 18
        && id.starts_with("g_")
        && id[2..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn check_hash(h: &str) -> Result<(), String> {
    parse_hash(h)
        .map(|_| ())
        .ok_or_else(|| "a token hash is not 64 hex digits".to_string())
}

fn check_client(id: &str) -> Result<(), String> {
    if super::valid_client_id(id) {
        Ok(())
    } else {
        Err("a client ID is neither 1 to 255 characters of [A-Za-z0-9._~-] nor a client metadata document URL".into())
    }
}

fn check_grant(id: &str) -> Result<(), String> {
    if valid_grant_id(id) {
        Ok(())
    } else {
        Err("a grant ID is malformed".into())
    }
}

fn check_resource(res: &str) -> Result<(), String> {
    match crate::config::parse_url(res) {
        Some(_) => Ok(()),
        None => Err("a resource is not an http(s) URL".into()),
    }
}

impl Record {
    /// The rules new input passes, applied to a record read back from the file.
    fn check(&self) -> Result<(), String> {
        match self {
            Record::Access {
                h,
                client,
                grant,
                res,
                ..
            } => {
                check_hash(h)?;
                check_client(client)?;
                grant.as_deref().map_or(Ok(()), check_grant)?;
                check_resource(res)
            }
            Record::Grant {
                id,
                client,
                res,
                name,
                redirect,
                scope,
                ..
            } => {
                check_grant(id)?;
                if scope
                    .as_deref()
                    .is_some_and(|s| Scope::parse_stored(s).is_none())
                {
                    return Err("a grant's scope is malformed".into());
                }
                check_client(client)?;
                if let Some(n) = name {
                    super::register::check_client_name(n)?;
                }
                if redirect.as_deref().is_some_and(|r| !valid_redirect_host(r)) {
                    return Err("a grant's redirect host is malformed".into());
                }
                check_resource(res)
            }
            Record::Refresh { h, grant, .. } => {
                check_hash(h)?;
                check_grant(grant)
            }
            Record::RevokeGrant { id }
            | Record::Used { grant: id, .. }
            | Record::Review { grant: id, .. } => check_grant(id),
            Record::RevokeAccess { h } => check_hash(h),
            Record::RevokeClient { id } => check_client(id),
            Record::Client(c) => {
                check_client(&c.client_id)?;
                if let Some(h) = &c.secret_hash {
                    check_hash(h)?;
                }
                super::register::check_stored(c)
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct Access {
    pub client: String,
    pub grant: Option<String>,
    pub res: String,
    pub exp: u64,
}

#[derive(Debug, Clone)]
pub struct Grant {
    pub client: String,
    pub res: String,
    pub name: Option<String>,
    /// Where the approval was sent: a host, or a native app's URI scheme.
    pub redirect: Option<String>,
    /// What the owner granted.
    pub scope: Scope,
    /// Its writes wait for the owner's review.
    pub review: bool,
    pub created: u64,
    pub last_used: u64,
    /// The one refresh token that may be used next; earlier ones are rotated out.
    pub current_refresh: Option<Hash>,
    pub refresh_exp: u64,
}

#[derive(Default)]
struct State {
    access: HashMap<Hash, Access>,
    grants: HashMap<String, Grant>,
    /// Every refresh token of a live grant, current or rotated, so that reuse of a rotated
    /// one is recognised.
    refresh: HashMap<Hash, String>,
    clients: HashMap<String, RegisteredClient>,
    /// Registration order (the order of the records, kept by rewrites): the oldest unused
    /// client is the first to make room. Timestamps tie within a second.
    client_seq: HashMap<String, u64>,
    next_seq: u64,
    /// Access tokens in the order they were issued, per (client, grant): the eviction order
    /// of [`MAX_LIVE_ACCESS_PER_OWNER`]. May hold hashes already revoked or expired.
    issued: HashMap<(String, Option<String>), VecDeque<Hash>>,
    /// Lines in the file.
    records: usize,
    /// The line count at which the file is next rewritten while running (0: not yet set).
    compact_at: usize,
    /// Bytes in the file, and the size at which it is next rewritten.
    bytes: u64,
    compact_bytes_at: u64,
}

pub struct Store {
    path: PathBuf,
    inner: Mutex<(File, State)>,
}

/// What a code exchange or a refresh hands out.
#[derive(Debug)]
pub struct Issued {
    pub grant: String,
    pub refresh: String,
    pub access: String,
    /// The grant's scope (for the token response).
    pub scope: Scope,
}

/// What went wrong with a presented refresh token.
#[derive(Debug, PartialEq, Eq)]
pub enum RefreshError {
    /// Unknown, expired, revoked, or another client's.
    Invalid,
    /// An already-rotated token came back: the grant is revoked (OAuth 2.1 §4.3.1).
    Reused,
    Io,
}

fn hash_hex(token: &str) -> String {
    hex(&sha256(token.as_bytes()))
}

fn parse_hash(h: &str) -> Option<Hash> {
    if h.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, chunk) in h.as_bytes().chunks(2).enumerate() {
        let s = std::str::from_utf8(chunk).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

impl State {
    fn apply(&mut self, rec: Record, now: u64) {
        self.records += 1;
        match rec {
            Record::Access {
                h,
                client,
                grant,
                res,
                exp,
            } => {
                if exp > now {
                    if let Some(h) = parse_hash(&h) {
                        if grant.as_ref().is_none_or(|g| self.grants.contains_key(g)) {
                            let owner = (client.clone(), grant.clone());
                            self.access.insert(
                                h,
                                Access {
                                    client,
                                    grant,
                                    res,
                                    exp,
                                },
                            );
                            self.remember_issued(owner, h, now);
                        }
                    }
                }
            }
            Record::Grant {
                id,
                client,
                res,
                at,
                name,
                redirect,
                scope,
                review,
            } => {
                // A grant is what makes a registered client "used" (kept past a day). Stores
                // written before `first_used` existed learn it here.
                if let Some(c) = self.clients.get_mut(&client) {
                    c.first_used.get_or_insert(at);
                }
                self.grants.insert(
                    id,
                    Grant {
                        client,
                        res,
                        name,
                        redirect,
                        scope: scope
                            .as_deref()
                            .and_then(Scope::parse_stored)
                            .unwrap_or_else(Scope::full),
                        review,
                        created: at,
                        last_used: at,
                        current_refresh: None,
                        refresh_exp: 0,
                    },
                );
            }
            Record::Refresh { h, grant, exp } => {
                if let (Some(h), Some(g)) = (parse_hash(&h), self.grants.get_mut(&grant)) {
                    g.current_refresh = Some(h);
                    g.refresh_exp = exp;
                    self.refresh.insert(h, grant);
                }
            }
            Record::RevokeGrant { id } => self.drop_grant(&id),
            Record::RevokeAccess { h } => {
                if let Some(h) = parse_hash(&h) {
                    self.forget_issued(&h);
                }
            }
            Record::Client(mut c) => {
                // Registered clients never get client_credentials (issue 16, item 1): a
                // client registered with it before that rule keeps its other grants.
                c.grant_types.retain(|g| g != "client_credentials");
                if let std::collections::hash_map::Entry::Vacant(e) =
                    self.client_seq.entry(c.client_id.clone())
                {
                    e.insert(self.next_seq);
                    self.next_seq += 1;
                }
                self.clients.insert(c.client_id.clone(), c);
            }
            Record::RevokeClient { id } => {
                self.clients.remove(&id);
                self.client_seq.remove(&id);
                let grants: Vec<String> = self
                    .grants
                    .iter()
                    .filter(|(_, g)| g.client == id)
                    .map(|(k, _)| k.clone())
                    .collect();
                for g in grants {
                    self.drop_grant(&g);
                }
                self.access.retain(|_, a| a.client != id);
                self.issued.retain(|(c, _), _| *c != id);
            }
            Record::Used { grant, at } => {
                if let Some(g) = self.grants.get_mut(&grant) {
                    g.last_used = g.last_used.max(at);
                }
            }
            Record::Review { grant, on } => {
                if let Some(g) = self.grants.get_mut(&grant) {
                    g.review = on;
                }
            }
        }
    }

    /// Records `h` as `owner`'s newest access token, in issue order: the order
    /// [`State::evictions`] revokes in. Past [`MAX_LIVE_ACCESS_PER_OWNER`] entries, tokens no
    /// longer live leave the queue (and expired ones leave memory). Evictions themselves are
    /// `RevokeAccess` records that [`Store::append`] writes with the new token, so replay
    /// needs no rule of its own: with token lifetimes changed between restarts, expiry and
    /// issue order differ.
    ///
    /// The queue is kept holding the owner's tokens that are still in `access`, in issue
    /// order, with a live one at the front: expired and revoked ones leave it from the front as
    /// they come up (and expired ones leave memory), a revocation elsewhere takes its entry out.
    /// So the eviction check reads the front instead of walking all 100 (a client at its limit,
    /// one that asks for a token per call, pays O(1), not O(100), per token).
    fn remember_issued(&mut self, owner: (String, Option<String>), h: Hash, now: u64) {
        let access = &mut self.access;
        let queue = self.issued.entry(owner).or_default();
        queue.push_back(h);
        while let Some(front) = queue.front() {
            match access.get(front).map(|a| a.exp > now) {
                Some(true) => break,
                Some(false) => {
                    access.remove(front);
                }
                None => {}
            }
            queue.pop_front();
        }
        // Out-of-order expiry (lifetimes changed between restarts) can leave dead entries
        // behind the front; they are swept once the queue is twice the limit.
        if queue.len() > 2 * MAX_LIVE_ACCESS_PER_OWNER {
            queue.retain(|h| access.get(h).is_some_and(|a| a.exp > now));
        }
    }

    /// Takes a revoked token out of its owner's queue: at the front (an eviction) in O(1),
    /// elsewhere (a revocation) by a scan.
    fn forget_issued(&mut self, h: &Hash) {
        let Some(a) = self.access.remove(h) else {
            return;
        };
        let owner = (a.client, a.grant);
        if let Some(q) = self.issued.get_mut(&owner) {
            if q.front() == Some(h) {
                q.pop_front();
            } else if let Some(i) = q.iter().position(|x| x == h) {
                q.remove(i);
            }
            if q.is_empty() {
                self.issued.remove(&owner);
            }
        }
    }

    /// The oldest live tokens of `owner` that one more token would put over
    /// [`MAX_LIVE_ACCESS_PER_OWNER`].
    fn evictions(&self, owner: &(String, Option<String>), now: u64) -> Vec<Hash> {
        let Some(queue) = self.issued.get(owner) else {
            return Vec::new();
        };
        if queue.len() < MAX_LIVE_ACCESS_PER_OWNER {
            return Vec::new();
        }
        // Tokens that expired since the last issue wait at the front.
        let expired = queue
            .iter()
            .take_while(|h| self.access.get(*h).is_none_or(|a| a.exp <= now))
            .count();
        let live = queue.len() - expired;
        let over = (live + 1).saturating_sub(MAX_LIVE_ACCESS_PER_OWNER);
        queue.iter().skip(expired).take(over).copied().collect()
    }

    /// Forgets expired access tokens (before a rewrite; replay would drop them anyway).
    fn drop_expired(&mut self, now: u64) {
        self.access.retain(|_, a| a.exp > now);
        let access = &self.access;
        self.issued.retain(|_, q| {
            q.retain(|h| access.contains_key(h));
            !q.is_empty()
        });
    }

    /// Registered clients, oldest registration first.
    fn clients_in_order(&self) -> Vec<&RegisteredClient> {
        let mut v: Vec<&RegisteredClient> = self.clients.values().collect();
        v.sort_by_key(|c| self.client_seq.get(&c.client_id).copied().unwrap_or(0));
        v
    }

    /// Lines a rewrite would write (an upper bound of [`State::snapshot`]'s length).
    fn live_records(&self) -> usize {
        self.clients.len() + 2 * self.grants.len() + self.refresh.len() + self.access.len()
    }

    fn drop_grant(&mut self, id: &str) {
        self.grants.remove(id);
        self.issued.retain(|(_, g), _| g.as_deref() != Some(id));
        self.refresh.retain(|_, g| g != id);
        self.access
            .retain(|_, a| a.grant.as_deref().is_none_or(|g| g != id));
    }

    /// The records that reproduce the live state; what compaction writes.
    fn snapshot(&self) -> Vec<Record> {
        let mut out = Vec::new();
        for c in self.clients_in_order() {
            out.push(Record::Client(c.clone()));
        }
        for (id, g) in &self.grants {
            out.push(Record::Grant {
                id: id.clone(),
                client: g.client.clone(),
                res: g.res.clone(),
                at: g.created,
                name: g.name.clone(),
                redirect: g.redirect.clone(),
                scope: (!g.scope.is_full()).then(|| g.scope.to_scope_string()),
                review: g.review,
            });
            // Rotated tokens first, the current one last (it wins on replay).
            for (h, gid) in &self.refresh {
                if gid == id && Some(*h) != g.current_refresh {
                    out.push(Record::Refresh {
                        h: hex(h),
                        grant: id.clone(),
                        exp: g.refresh_exp,
                    });
                }
            }
            if let Some(h) = g.current_refresh {
                out.push(Record::Refresh {
                    h: hex(&h),
                    grant: id.clone(),
                    exp: g.refresh_exp,
                });
            }
            if g.last_used > g.created {
                out.push(Record::Used {
                    grant: id.clone(),
                    at: g.last_used,
                });
            }
        }
        // Each owner's tokens in the order they were issued, so that replay rebuilds the
        // eviction order of `issued` exactly (every live token is in its owner's queue).
        let access = self
            .issued
            .values()
            .flatten()
            .filter_map(|h| Some((h, self.access.get(h)?)));
        for (h, a) in access {
            out.push(Record::Access {
                h: hex(h),
                client: a.client.clone(),
                grant: a.grant.clone(),
                res: a.res.clone(),
                exp: a.exp,
            });
        }
        out
    }
}

impl Store {
    /// Replays `oauth.jsonl`, dropping expired entries, and rewrites it compactly when most
    /// of it is dead. A torn last line (a crash mid-append) is dropped; any other bad line
    /// stops the start with the file and line named.
    pub fn open(dir: &Path) -> Result<Store, Error> {
        let path = dir.join("oauth.jsonl");
        let now = unix_now();
        let mut state = State::default();
        let mut torn = false;
        if path.exists() {
            let f = File::open(&path)
                .map_err(|e| Error::Io(format!("cannot open {}", path.display()), e))?;
            let mut lines: Vec<Vec<u8>> = Vec::new();
            let mut reader = BufReader::new(f);
            loop {
                let mut line = Vec::new();
                let n = reader
                    .read_until(b'\n', &mut line)
                    .map_err(|e| Error::Io(format!("cannot read {}", path.display()), e))?;
                if n == 0 {
                    break;
                }
                lines.push(line);
            }
            let count = lines.len();
            for (i, line) in lines.into_iter().enumerate() {
                let last = i + 1 == count;
                let complete = line.ends_with(b"\n");
                match serde_json::from_slice::<Record>(&line) {
                    // Every record passes the rules new input passes (issue 16, item 10): a
                    // crafted line with a newline in a client ID or a bad redirect URI stops
                    // the start instead of being served or printed.
                    Ok(rec) if complete => match rec.check() {
                        Ok(()) => state.apply(rec, now),
                        Err(why) => {
                            return Err(Error::Store(format!(
                                "{} line {}: {why}; the file is damaged or was edited by hand (restore it from a backup, or move it away to forget every issued token)",
                                path.display(),
                                i + 1
                            )))
                        }
                    },
                    _ if last => {
                        torn = true;
                        crate::log::line(&format!(
                            "{}: dropped a torn last line ({} bytes) left by a crash",
                            path.display(),
                            line.len()
                        ));
                    }
                    Err(e) => {
                        return Err(Error::Store(format!(
                            "{} line {}: {e}; the file is damaged (restore it from a backup, or move it away to forget every issued token)",
                            path.display(),
                            i + 1
                        )))
                    }
                    Ok(_) => {}
                }
            }
        }
        state.clients.retain(|_, c| !c.expired_unused(now));
        let live = state.snapshot();
        // Rewrite when most of the file is dead (expired or revoked): it keeps the file from
        // growing without bound, and skipping it otherwise lets the server start on a full
        // disk, where a rewrite would fail.
        // A torn tail must go before anything is appended after it.
        let file = if torn || !path.exists() || state.records > 2 * live.len() + 100 {
            state.records = live.len();
            let (f, bytes) = write_atomically(&path, &live)?;
            state.bytes = bytes;
            f
        } else {
            let f = OpenOptions::new()
                .append(true)
                .open(&path)
                .map_err(|e| Error::Io(format!("cannot open {}", path.display()), e))?;
            state.bytes = f.metadata().map(|m| m.len()).unwrap_or(0);
            f
        };
        state.compact_at = 2 * live.len() + COMPACT_SLACK;
        state.compact_bytes_at = 2 * state.bytes + COMPACT_SLACK_BYTES;
        Ok(Store {
            path,
            inner: Mutex::new((file, state)),
        })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, (File, State)>, std::io::Error> {
        self.inner
            .lock()
            .map_err(|_| std::io::Error::other("store lock poisoned"))
    }

    fn append(&self, recs: Vec<Record>, durable: bool) -> Result<(), std::io::Error> {
        let mut guard = self.lock()?;
        let (file, state) = &mut *guard;
        Self::append_locked(&self.path, file, state, recs, durable)
    }

    /// Writes `recs` (fsynced when `durable`) and applies them, under the caller's lock: a
    /// check made under the same lock still holds when the records land.
    fn append_locked(
        path: &Path,
        file: &mut File,
        state: &mut State,
        mut recs: Vec<Record>,
        durable: bool,
    ) -> Result<(), std::io::Error> {
        let now = unix_now();
        // A token past its owner's limit revokes the oldest, in the same write.
        let mut evicted = Vec::new();
        for r in &recs {
            if let Record::Access { client, grant, .. } = r {
                for h in state.evictions(&(client.clone(), grant.clone()), now) {
                    evicted.push(Record::RevokeAccess { h: hex(&h) });
                }
            }
        }
        recs.extend(evicted);
        let mut buf = Vec::new();
        for r in &recs {
            serde_json::to_writer(&mut buf, r)?;
            buf.push(b'\n');
        }
        // The file's length is kept in memory: no `fstat` per token.
        let before = state.bytes;
        let written =
            file.write_all(&buf)
                .and_then(|_| if durable { file.sync_data() } else { Ok(()) });
        if let Err(e) = written {
            // Leave no half record behind; the in-memory state was not changed.
            let _ = file.set_len(before);
            return Err(e);
        }
        state.bytes = before + buf.len() as u64;
        for r in recs {
            state.apply(r, now);
        }
        if state.records >= state.compact_at || state.bytes >= state.compact_bytes_at {
            Self::compact(path, file, state);
        }
        Ok(())
    }

    /// Rewrites the file with only its live records, while running: without it a client
    /// issuing tokens in a loop grows the file until the next start. The records are durable
    /// already, so a failed rewrite (a full disk) only leaves the file longer; it is logged
    /// and tried again after as many records again.
    fn compact(path: &Path, file: &mut File, state: &mut State) {
        state.drop_expired(unix_now());
        let live = state.snapshot();
        match write_atomically(path, &live) {
            Ok((f, bytes)) => {
                *file = f;
                state.records = live.len();
                state.bytes = bytes;
                state.compact_at = 2 * state.live_records() + COMPACT_SLACK;
                state.compact_bytes_at = 2 * bytes + COMPACT_SLACK_BYTES;
            }
            Err(e) => {
                crate::log::line(&format!(
                    "could not rewrite {} ({e}); it stays as it is",
                    path.display()
                ));
                state.compact_at = 2 * state.records + COMPACT_SLACK;
                state.compact_bytes_at = 2 * state.bytes + COMPACT_SLACK_BYTES;
            }
        }
    }

    /// Issues an access token bound to `client` (and `grant`) and the resource `res`.
    pub fn issue_access(
        &self,
        client: &str,
        grant: Option<&str>,
        res: &str,
        ttl: u64,
        durable: bool,
    ) -> Result<String, std::io::Error> {
        let token = format!("bma_{}", random_secret());
        self.append(
            vec![Record::Access {
                h: hash_hex(&token),
                client: client.to_string(),
                grant: grant.map(str::to_string),
                res: res.to_string(),
                exp: unix_now() + ttl,
            }],
            durable,
        )?;
        Ok(token)
    }

    /// The live access token's record and, when it belongs to a grant, that grant (its scope
    /// and the client's name): who is calling, in one lookup under one lock.
    pub fn caller(&self, token: &str) -> Option<(Access, Option<Grant>)> {
        let h = sha256(token.as_bytes());
        let guard = self.inner.lock().ok()?;
        let a = guard.1.access.get(&h)?;
        if a.exp <= unix_now() {
            return None;
        }
        let g = a
            .grant
            .as_ref()
            .and_then(|g| guard.1.grants.get(g))
            .cloned();
        Some((a.clone(), g))
    }

    /// The live access token's record, if `token` is one.
    pub fn check_access(&self, token: &str) -> Option<Access> {
        let h = sha256(token.as_bytes());
        let guard = self.inner.lock().ok()?;
        let a = guard.1.access.get(&h)?;
        (a.exp > unix_now()).then(|| a.clone())
    }

    /// A new grant with its first refresh token and access token, in one write that is on
    /// disk before returning. Marks a registered client as used.
    pub fn create_grant(
        &self,
        client: &str,
        about: GrantInfo,
        res: &str,
        refresh_ttl: u64,
        access_ttl: u64,
    ) -> Result<Issued, std::io::Error> {
        let grant = format!("g_{}", &random_secret()[..16]);
        let refresh = format!("bmr_{}", random_secret());
        let access = format!("bma_{}", random_secret());
        let now = unix_now();
        let mut guard = self.lock()?;
        let (file, state) = &mut *guard;
        let mut recs = Vec::new();
        if let Some(c) = state.clients.get(client) {
            if c.first_used.is_none() {
                recs.push(Record::Client(RegisteredClient {
                    first_used: Some(now),
                    ..c.clone()
                }));
            }
        }
        recs.extend([
            Record::Grant {
                id: grant.clone(),
                client: client.to_string(),
                res: res.to_string(),
                at: now,
                scope: (!about.scope.is_full()).then(|| about.scope.to_scope_string()),
                review: about.review,
                name: about.name,
                redirect: about.redirect,
            },
            Record::Refresh {
                h: hash_hex(&refresh),
                grant: grant.clone(),
                exp: now + refresh_ttl,
            },
            Record::Access {
                h: hash_hex(&access),
                client: client.to_string(),
                grant: Some(grant.clone()),
                res: res.to_string(),
                exp: now + access_ttl,
            },
        ]);
        Self::append_locked(&self.path, file, state, recs, true)?;
        Ok(Issued {
            grant,
            refresh,
            access,
            scope: about.scope,
        })
    }

    /// Exchanges a refresh token for a new one and a new access token (rotation). Presenting
    /// a rotated token revokes its whole grant. The check and the write happen under one
    /// lock: two requests racing with the same token cannot both win (issue 16, item 2), and
    /// the loser, seeing a rotated token, revokes the grant as OAuth 2.1 §4.3.1 asks ("the
    /// authorization server cannot determine which party submitted the invalid refresh
    /// token ... will revoke the active refresh token").
    pub fn rotate_refresh(
        &self,
        presented: &str,
        client: &str,
        refresh_ttl: u64,
        access_ttl: u64,
    ) -> Result<Issued, RefreshError> {
        let h = sha256(presented.as_bytes());
        let now = unix_now();
        let mut guard = self.lock().map_err(|_| RefreshError::Io)?;
        let (file, state) = &mut *guard;
        let gid = state.refresh.get(&h).ok_or(RefreshError::Invalid)?.clone();
        let g = state.grants.get(&gid).ok_or(RefreshError::Invalid)?;
        if g.client != client {
            return Err(RefreshError::Invalid);
        }
        if g.current_refresh != Some(h) {
            Self::append_locked(
                &self.path,
                file,
                state,
                vec![Record::RevokeGrant { id: gid }],
                true,
            )
            .map_err(|_| RefreshError::Io)?;
            return Err(RefreshError::Reused);
        }
        if g.refresh_exp <= now {
            return Err(RefreshError::Invalid);
        }
        let res = g.res.clone();
        let scope = g.scope.clone();
        let refresh = format!("bmr_{}", random_secret());
        let access = format!("bma_{}", random_secret());
        let recs = vec![
            Record::Refresh {
                h: hash_hex(&refresh),
                grant: gid.clone(),
                exp: now + refresh_ttl,
            },
            Record::Used {
                grant: gid.clone(),
                at: now,
            },
            Record::Access {
                h: hash_hex(&access),
                client: client.to_string(),
                grant: Some(gid.clone()),
                res,
                exp: now + access_ttl,
            },
        ];
        Self::append_locked(&self.path, file, state, recs, true).map_err(|_| RefreshError::Io)?;
        Ok(Issued {
            grant: gid,
            refresh,
            access,
            scope,
        })
    }

    /// Whether `token` is the current, unexpired refresh token of a grant of `client`: a
    /// credential no guesser has, which lets a refresh through a rate limit that strangers
    /// on the same address tripped (see `oauth::token::authenticated_form`).
    pub fn refresh_is_current(&self, token: &str, client: &str) -> bool {
        let h = sha256(token.as_bytes());
        let Ok(guard) = self.inner.lock() else {
            return false;
        };
        let state = &guard.1;
        state
            .refresh
            .get(&h)
            .and_then(|gid| state.grants.get(gid))
            .is_some_and(|g| {
                g.client == client && g.current_refresh == Some(h) && g.refresh_exp > unix_now()
            })
    }

    /// Turns review of grant `id`'s writes on or off; false when no such grant is live.
    pub fn set_review(&self, id: &str, on: bool) -> Result<bool, std::io::Error> {
        if !self.grants().iter().any(|(g, _)| g == id) {
            return Ok(false);
        }
        self.append(
            vec![Record::Review {
                grant: id.to_string(),
                on,
            }],
            true,
        )?;
        Ok(true)
    }

    pub fn revoke_grant(&self, id: &str) -> Result<(), std::io::Error> {
        self.append(vec![Record::RevokeGrant { id: id.to_string() }], true)
    }

    /// RFC 7009: revokes `token` if it is `client`'s. Returns whether anything was revoked.
    pub fn revoke_token(&self, token: &str, client: &str) -> Result<bool, std::io::Error> {
        let h = sha256(token.as_bytes());
        let rec = {
            let guard = self
                .inner
                .lock()
                .map_err(|_| std::io::Error::other("store lock poisoned"))?;
            let state = &guard.1;
            if let Some(a) = state.access.get(&h) {
                (a.client == client).then(|| Record::RevokeAccess { h: hex(&h) })
            } else if let Some(g) = state.refresh.get(&h) {
                state
                    .grants
                    .get(g)
                    .filter(|gr| gr.client == client)
                    .map(|_| Record::RevokeGrant { id: g.clone() })
            } else {
                None
            }
        };
        match rec {
            Some(r) => self.append(vec![r], true).map(|_| true),
            None => Ok(false),
        }
    }

    /// Registers a client (issue 16, item 6): unused registrations older than a day go in
    /// the same write, and when [`MAX_UNUSED_CLIENTS`] unused ones remain, the oldest of them
    /// makes room. Returns how many were dropped.
    pub fn register_client(&self, c: RegisteredClient) -> Result<usize, std::io::Error> {
        let now = unix_now();
        let mut guard = self.lock()?;
        let (file, state) = &mut *guard;
        let unused: Vec<&RegisteredClient> = state
            .clients_in_order()
            .into_iter()
            .filter(|c| c.first_used.is_none())
            .collect();
        let (expired, waiting): (Vec<_>, Vec<_>) =
            unused.into_iter().partition(|c| c.expired_unused(now));
        let over = waiting.len().saturating_sub(MAX_UNUSED_CLIENTS - 1);
        let mut recs: Vec<Record> = expired
            .iter()
            .chain(waiting.iter().take(over))
            .map(|c| Record::RevokeClient {
                id: c.client_id.clone(),
            })
            .collect();
        let dropped = recs.len();
        recs.push(Record::Client(c));
        Self::append_locked(&self.path, file, state, recs, true)?;
        Ok(dropped)
    }

    /// A registered client, unless it went unused for a day (then it is as good as gone,
    /// whether or not a registration has cleared it out yet).
    pub fn client(&self, id: &str) -> Option<RegisteredClient> {
        let guard = self.inner.lock().ok()?;
        let c = guard.1.clients.get(id)?;
        (!c.expired_unused(unix_now())).then(|| c.clone())
    }

    /// Whether `client` holds a live grant (the owner approved it).
    pub fn has_grant(&self, client: &str) -> bool {
        self.inner
            .lock()
            .is_ok_and(|g| g.1.grants.values().any(|gr| gr.client == client))
    }

    /// Every registered client not yet forgotten, for `brain-mcp grants`.
    pub fn clients(&self) -> Vec<RegisteredClient> {
        let now = unix_now();
        match self.inner.lock() {
            Ok(g) => {
                g.1.clients
                    .values()
                    .filter(|c| !c.expired_unused(now))
                    .cloned()
                    .collect()
            }
            Err(_) => Vec::new(),
        }
    }

    /// Live access tokens held outside any grant (`client_credentials`), per client: how many
    /// and when the last of them expires. For `brain-mcp grants`.
    pub fn grantless_tokens(&self) -> Vec<(String, usize, u64)> {
        let Ok(g) = self.inner.lock() else {
            return Vec::new();
        };
        let now = unix_now();
        let mut by_client: HashMap<&str, (usize, u64)> = HashMap::new();
        for a in g.1.access.values() {
            if a.grant.is_none() && a.exp > now {
                let e = by_client.entry(&a.client).or_default();
                e.0 += 1;
                e.1 = e.1.max(a.exp);
            }
        }
        by_client
            .into_iter()
            .map(|(c, (n, exp))| (c.to_string(), n, exp))
            .collect()
    }

    /// Revokes every access token held outside a grant by a client other than `allowed` (the
    /// pre-registered client): only it may use `client_credentials`. Tokens that registered
    /// clients obtained before that rule (issue 16, item 1) end here, at start. Returns how
    /// many.
    pub fn revoke_grantless_except(&self, allowed: Option<&str>) -> Result<usize, std::io::Error> {
        let mut guard = self.lock()?;
        let (file, state) = &mut *guard;
        let recs: Vec<Record> = state
            .access
            .iter()
            .filter(|(_, a)| a.grant.is_none() && Some(a.client.as_str()) != allowed)
            .map(|(h, _)| Record::RevokeAccess { h: hex(h) })
            .collect();
        let n = recs.len();
        if n > 0 {
            Self::append_locked(&self.path, file, state, recs, true)?;
        }
        Ok(n)
    }

    /// Ends every grant and token of a client, and forgets it if it was registered.
    pub fn revoke_client(&self, id: &str) -> Result<(), std::io::Error> {
        self.append(vec![Record::RevokeClient { id: id.to_string() }], true)
    }

    /// Live grants, for `brain-mcp grants`.
    pub fn grants(&self) -> Vec<(String, Grant)> {
        match self.inner.lock() {
            Ok(g) => {
                g.1.grants
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            }
            Err(_) => Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Write, fsync, rename, fsync the directory: the file is either the old or the new one.
/// Returns the new file, open for appending (opened before the rename, so that no failure
/// after it can leave us appending to the replaced file).
fn write_atomically(path: &Path, recs: &[Record]) -> Result<(File, u64), Error> {
    let tmp = path.with_extension("jsonl.tmp");
    let io = |what: &str, e| Error::Io(format!("{what} {}", tmp.display()), e);
    let mut buf = Vec::new();
    for r in recs {
        serde_json::to_writer(&mut buf, r)
            .map_err(|e| Error::Store(format!("cannot encode a record: {e}")))?;
        buf.push(b'\n');
    }
    // A leftover of an interrupted rewrite goes first (O_APPEND cannot be combined with O_TRUNC).
    let _ = fs::remove_file(&tmp);
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&tmp)
        .map_err(|e| io("cannot create", e))?;
    let done = f
        .write_all(&buf)
        .map_err(|e| io("cannot write", e))
        .and_then(|()| f.sync_all().map_err(|e| io("cannot sync", e)))
        .and_then(|()| fs::rename(&tmp, path).map_err(|e| io("cannot rename", e)));
    if let Err(e) = done {
        // A half-written copy would hold on to the space a full disk needs for appends.
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    if let Some(dir) = path.parent() {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok((f, buf.len() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "brain-oauth-{name}-{}-{}",
            std::process::id(),
            random_secret()
        ));
        fs::create_dir_all(&d).unwrap();
        d
    }

    const RES: &str = "http://127.0.0.1:1/mcp";

    #[test]
    fn access_tokens_survive_reopen_and_are_hashed() {
        let d = tmp("access");
        let s = Store::open(&d).unwrap();
        let t = s.issue_access("c1", None, RES, 3600, false).unwrap();
        assert_eq!(s.check_access(&t).unwrap().client, "c1");
        assert!(s.check_access("bma_nope").is_none());
        drop(s);
        let raw = fs::read_to_string(d.join("oauth.jsonl")).unwrap();
        assert!(!raw.contains(&t));
        let s = Store::open(&d).unwrap();
        assert_eq!(s.check_access(&t).unwrap().res, RES);
        fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn refresh_rotation_and_reuse_detection() {
        let d = tmp("refresh");
        let s = Store::open(&d).unwrap();
        let first = s
            .create_grant("c1", GrantInfo::default(), RES, 100, 3600)
            .unwrap();
        let (g, r1, a1) = (first.grant, first.refresh, first.access);
        assert_eq!(
            s.rotate_refresh(&r1, "c2", 100, 3600).unwrap_err(),
            RefreshError::Invalid
        );
        let next = s.rotate_refresh(&r1, "c1", 100, 3600).unwrap();
        assert_eq!(g, next.grant);
        assert!(s.check_access(&next.access).is_some());
        let r2 = next.refresh;
        drop(s);
        let s = Store::open(&d).unwrap();
        // The rotated token comes back: the whole grant goes.
        assert_eq!(
            s.rotate_refresh(&r1, "c1", 100, 3600).unwrap_err(),
            RefreshError::Reused
        );
        assert_eq!(
            s.rotate_refresh(&r2, "c1", 100, 3600).unwrap_err(),
            RefreshError::Invalid
        );
        assert!(s.check_access(&a1).is_none());
        fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn live_access_tokens_are_capped_per_owner_oldest_out_across_restarts() {
        let d = tmp("cap");
        let s = Store::open(&d).unwrap();
        let issue = |s: &Store, c: &str| s.issue_access(c, None, RES, 3600, false).unwrap();
        let other = issue(&s, "c2");
        let g = s
            .create_grant("c1", GrantInfo::default(), RES, 100, 3600)
            .unwrap()
            .grant;
        let by_grant = s.issue_access("c1", Some(&g), RES, 3600, false).unwrap();
        let n = MAX_LIVE_ACCESS_PER_OWNER + 5;
        let tokens: Vec<String> = (0..n).map(|_| issue(&s, "c1")).collect();
        let live = |s: &Store| {
            tokens
                .iter()
                .map(|t| s.check_access(t).is_some())
                .collect::<Vec<_>>()
        };
        let want: Vec<bool> = (0..n).map(|i| i >= 5).collect();
        assert_eq!(live(&s), want);
        // Other owners keep theirs: another client, and the same client under a grant.
        assert!(s.check_access(&other).is_some());
        assert!(s.check_access(&by_grant).is_some());
        drop(s);
        let s = Store::open(&d).unwrap();
        assert_eq!(live(&s), want);
        // A rewrite keeps the order too (all were issued within the same second or two).
        {
            let mut g = s.inner.lock().unwrap();
            let (file, state) = &mut *g;
            Store::compact(&d.join("oauth.jsonl"), file, state);
        }
        drop(s);
        let s = Store::open(&d).unwrap();
        assert_eq!(live(&s), want);
        // The order survived the restarts: one more evicts the oldest live one.
        let newest = issue(&s, "c1");
        assert!(s.check_access(&newest).is_some());
        assert!(s.check_access(&tokens[5]).is_none());
        assert!(s.check_access(&tokens[6]).is_some());
        assert!(s.check_access(&other).is_some());
        fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn an_evicted_token_stays_revoked_when_newer_ones_expire_first() {
        let d = tmp("evict-ttl");
        let s = Store::open(&d).unwrap();
        let long: Vec<String> = (0..MAX_LIVE_ACCESS_PER_OWNER)
            .map(|_| s.issue_access("c1", None, RES, 100_000, false).unwrap())
            .collect();
        // The lifetime was lowered (and the server restarted): the newest expires first.
        let short = s.issue_access("c1", None, RES, 1, false).unwrap();
        assert!(s.check_access(&long[0]).is_none());
        assert!(s.check_access(&long[1]).is_some());
        drop(s);
        std::thread::sleep(std::time::Duration::from_millis(2100));
        let s = Store::open(&d).unwrap();
        assert!(s.check_access(&short).is_none());
        assert!(
            s.check_access(&long[0]).is_none(),
            "an evicted token came back"
        );
        assert!(s.check_access(&long[1]).is_some());
        fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn expired_tokens_leave_memory_once_their_owner_is_at_the_limit() {
        let d = tmp("expired");
        let s = Store::open(&d).unwrap();
        for _ in 0..50 {
            s.issue_access("c1", None, RES, 1, false).unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(2100));
        for _ in 0..200 {
            s.issue_access("c1", None, RES, 3600, false).unwrap();
        }
        let g = s.inner.lock().unwrap();
        assert_eq!(g.1.access.len(), MAX_LIVE_ACCESS_PER_OWNER);
        drop(g);
        fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn a_token_flood_is_compacted_while_running() {
        let d = tmp("flood");
        let s = Store::open(&d).unwrap();
        let first = s
            .create_grant("c1", GrantInfo::default(), RES, 100, 3600)
            .unwrap();
        let (g, r) = (first.grant, first.refresh);
        let lines = || {
            fs::read_to_string(d.join("oauth.jsonl"))
                .unwrap()
                .lines()
                .count()
        };
        let mut last = String::new();
        let mut most = 0;
        for _ in 0..3 * COMPACT_SLACK {
            last = s.issue_access("c1", None, RES, 3600, false).unwrap();
            most = most.max(s.inner.lock().unwrap().1.records);
        }
        // Each rewrite leaves the live records: the grant, its refresh and access token, and
        // 100 client_credentials tokens.
        assert!(most <= 2 * 104 + COMPACT_SLACK, "{most}");
        assert!(lines() <= 2 * 104 + COMPACT_SLACK, "{}", lines());
        assert_eq!(s.inner.lock().unwrap().1.records, lines());
        drop(s);
        let s = Store::open(&d).unwrap();
        assert!(s.check_access(&last).is_some());
        assert_eq!(s.rotate_refresh(&r, "c1", 100, 3600).unwrap().grant, g);
        fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn torn_last_line_is_dropped_and_middle_corruption_stops() {
        let d = tmp("torn");
        let s = Store::open(&d).unwrap();
        let t = s.issue_access("c1", None, RES, 3600, true).unwrap();
        drop(s);
        let p = d.join("oauth.jsonl");
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"{\"t\":\"acc").unwrap();
        drop(f);
        let s = Store::open(&d).unwrap();
        assert!(s.check_access(&t).is_some());
        // Appends after the recovery land on a clean line.
        let t2 = s.issue_access("c1", None, RES, 3600, true).unwrap();
        drop(s);
        let s = Store::open(&d).unwrap();
        assert!(s.check_access(&t2).is_some());
        drop(s);
        let good = fs::read_to_string(&p).unwrap();
        fs::write(&p, format!("garbage\n{good}")).unwrap();
        match Store::open(&d) {
            Err(Error::Store(m)) => assert!(m.contains("line 1"), "{m}"),
            _ => panic!("expected a store error"),
        }
        fs::remove_dir_all(&d).ok();
    }
}
