//! The owner's commands (`brain-mcp grants`, `brain-mcp revoke CLIENT_ID`, `brain-mcp export`,
//! `brain-mcp import FILE`) while the server runs: the server listens on a Unix socket inside
//! the data directory (mode 0700, so only the owner of the data can connect) and answers one
//! command per connection: a line, then for `import` the file's bytes up to the end of the
//! stream. When no server runs, the command opens the stores itself, under the directory lock.
//! Either way export is one snapshot taken under the brain's read lock, and import is checked
//! whole and then appended with one write and one fsync, so the running server's memory sees
//! the notes at once.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::brain::Brain;
use crate::error::Error;
use crate::oauth::store::Store;
use crate::router::App;
use crate::time::format_rfc3339_millis;

pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join("admin.sock")
}

/// Whether a server answers on the admin socket of `dir`.
pub fn socket_reachable(dir: &Path) -> bool {
    UnixStream::connect(socket_path(dir)).is_ok()
}

/// The admin socket's file: removed when this is dropped, so a clean stop (SIGTERM or SIGINT,
/// after the drain) or a failed start leaves no `admin.sock` behind. A crash (SIGKILL) does;
/// the next start removes it, since the data-directory lock says no server owns it.
pub struct Socket {
    path: PathBuf,
}

impl Drop for Socket {
    fn drop(&mut self) {
        // The listener thread may still hold the descriptor: unlinking the name is enough,
        // no new command can reach it, and the process is about to exit.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Starts the admin listener. We hold the data-directory lock, so a socket file left there
/// is stale and can go. Keep the returned [`Socket`] for as long as the server runs (and the
/// lock is held).
pub fn spawn(dir: &Path, app: Arc<App>) -> Result<Socket, Error> {
    let path = socket_path(dir);
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)
        .map_err(|e| Error::Io(format!("cannot listen on {}", path.display()), e))?;
    // The umask already made it 0700; 0600 says plainly that only the owner connects.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::Io(format!("cannot chmod {}", path.display()), e))?;
    }
    let socket = Socket { path };
    std::thread::Builder::new()
        .name("admin".into())
        .spawn(move || {
            for conn in listener.incoming().flatten() {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
                let _ = conn.set_write_timeout(Some(Duration::from_secs(10)));
                let mut line = String::new();
                let mut reader = BufReader::new((&conn).take(1024));
                // One short command line; anything longer is not ours.
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let mut body = Vec::new();
                if line.trim() == "import" {
                    // The file follows, up to the end of the stream.
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(60)));
                    reader.get_mut().set_limit(MAX_IMPORT_BYTES + 1);
                    if reader.read_to_end(&mut body).is_err() {
                        continue;
                    }
                }
                let reply = command(&app.store, &app.mcp.brain, line.trim(), &body);
                let _ = (&conn).write_all(&reply);
            }
        })
        .map_err(|e| Error::Io("cannot start the admin thread".into(), e))?;
    Ok(socket)
}

/// The largest file `import` accepts (a brain of 64 KiB notes with history would need more,
/// but that is far beyond a personal note memory).
pub const MAX_IMPORT_BYTES: u64 = 1 << 30;

/// Runs one admin command against the stores and returns what to print.
pub fn command(store: &Store, brain: &Brain, line: &str, body: &[u8]) -> Vec<u8> {
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next(), parts.next()) {
        (Some("grants"), None, None) => grants_table(store, brain).into_bytes(),
        (Some("revoke"), Some(id), None) => revoke(store, id).into_bytes(),
        (Some("review"), Some(id), Some(on @ ("on" | "off"))) => {
            review(store, id, on == "on").into_bytes()
        }
        (Some("pending"), None, None) => pending(brain).into_bytes(),
        (Some("accept"), Some(id), None) => accept(brain, id).into_bytes(),
        (Some("reject"), Some(id), None) => reject(brain, id).into_bytes(),
        (Some("export"), None, None) => brain.export(),
        (Some("import"), None, None) => import(brain, body).into_bytes(),
        (Some("reindex"), None, None) => reindex(brain).into_bytes(),
        _ => b"error: unknown admin command\n".to_vec(),
    }
}

/// `reindex`: every note embedded again, into a fresh vector store (issue 14).
fn reindex(brain: &Brain) -> String {
    match brain.reindex() {
        None => "error: search by meaning is not configured (set BRAIN_EMBED_URL and BRAIN_EMBED_MODEL)\n".into(),
        Some(n) => format!(
            "reindexing: {n} notes queued for a vector (searches use words alone until their vectors exist; /healthz shows the progress)\n"
        ),
    }
}

/// `revoke GRANT_ID` ends that one grant (one installation: a phone, a laptop), `revoke
/// CLIENT_ID` every grant and token of the client.
fn revoke(store: &Store, id: &str) -> String {
    let shown = cell(id, 255);
    if crate::oauth::store::valid_grant_id(id) {
        if !store.grants().iter().any(|(g, _)| g == id) {
            return format!("error: no live grant {shown}\n");
        }
        return match store.revoke_grant(id) {
            Ok(()) => format!("revoked grant {shown} and its tokens\n"),
            Err(e) => format!("error: could not write the revocation: {e}\n"),
        };
    }
    match store.revoke_client(id) {
        Ok(()) => format!("revoked every grant and token of client {shown}\n"),
        Err(e) => format!("error: could not write the revocation: {e}\n"),
    }
}

/// `review GRANT on|off`: hold that grant's writes for the owner (issue 12, item 5).
fn review(store: &Store, id: &str, on: bool) -> String {
    let shown = cell(id, 255);
    match store.set_review(id, on) {
        Ok(true) if on => format!(
            "grant {shown}: its writes now wait for review (brain-mcp pending, accept, reject)\n"
        ),
        Ok(true) => format!("grant {shown}: its writes are no longer held for review\n"),
        Ok(false) => format!("error: no live grant {shown}\n"),
        Err(e) => format!("error: could not write the change: {e}\n"),
    }
}

/// The notes waiting for the owner, oldest first, with who wrote them.
fn pending(brain: &Brain) -> String {
    let filter = crate::brain::Filter {
        pending_only: true,
        ..Default::default()
    };
    let Ok((mut notes, _)) = brain.list_filtered(&filter, None, |_| true, 10_000) else {
        return "error: the pending notes could not be read\n".into();
    };
    if notes.is_empty() {
        return "no notes wait for review\n".into();
    }
    notes.reverse();
    let mut out = format!(
        "PENDING NOTES (`brain-mcp accept ID` keeps one, `brain-mcp reject ID` forgets it)\n{:<16} {:<21} {:<12} {:<32} {}\n",
        "ID", "WRITTEN", "SPACE", "BY", "TEXT"
    );
    for (_, n) in &notes {
        let by =
            n.by.as_ref()
                .map_or_else(|| "unknown".into(), |w| w.label());
        out.push_str(&format!(
            "{:<16} {:<21} {:<12} {:<32} {}\n",
            cell(&n.id, 16),
            cell(&n.updated_at, 21),
            cell(&n.space, 12),
            cell(&by, 32),
            cell(&n.text, 60)
        ));
    }
    out
}

fn accept(brain: &Brain, id: &str) -> String {
    let shown = cell(id, 80);
    match brain.accept(id) {
        Ok(Some(_)) => format!("accepted note {shown}: every client it may reach sees it now\n"),
        Ok(None) => format!("error: no note {shown} waits for review\n"),
        Err(e) => format!("error: nothing was accepted: {e}\n"),
    }
}

/// Rejecting is forgetting, for a note that waits for review (never another).
fn reject(brain: &Brain, id: &str) -> String {
    let shown = cell(id, 80);
    if !brain.recall(id).is_some_and(|n| n.pending) {
        return format!("error: no note {shown} waits for review\n");
    }
    match brain.forget(id) {
        Ok(true) => format!("rejected note {shown}: it is forgotten\n"),
        Ok(false) => format!("error: no note {shown} waits for review\n"),
        Err(e) => format!("error: nothing was rejected: {e}\n"),
    }
}

fn import(brain: &Brain, body: &[u8]) -> String {
    if body.len() as u64 > MAX_IMPORT_BYTES {
        return format!("error: the file is over {MAX_IMPORT_BYTES} bytes; nothing was imported\n");
    }
    let notes = match crate::brain::transfer::parse(body) {
        Ok(n) => n,
        Err(lines) => return format!("error: nothing was imported; bad lines:\n{lines}\n"),
    };
    match brain.import(&notes) {
        Ok((added, skipped)) => format!("added {added}, skipped {skipped}\n"),
        Err(e) => format!("error: nothing was imported: {e}\n"),
    }
}

fn when(secs: u64) -> String {
    let s = format_rfc3339_millis(Duration::from_secs(secs));
    // Seconds are enough for people.
    format!("{}Z", &s[..19])
}

/// Text for a terminal: control characters (a newline in a crafted name would forge a line
/// of this output) become `?`, and the column is cut to `width` characters.
fn cell(s: &str, width: usize) -> String {
    s.chars()
        .take(width)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// A grant's scope for people: `read-write`, `read-only`, then `spaces a,b` when limited.
fn scope_cell(s: &crate::oauth::scope::Scope) -> String {
    let access = if s.write { "read-write" } else { "read-only" };
    match &s.spaces {
        None => access.to_string(),
        Some(sp) => format!("{access} spaces {}", sp.join(",")),
    }
}

/// Everything that has access (issue 16, item 5): every grant, every client holding
/// `client_credentials` tokens, and every registered client, used or not.
fn grants_table(store: &Store, brain: &Brain) -> String {
    let wrote = brain.last_written_by_grants();
    let mut grants = store.grants();
    grants.sort_by_key(|(_, g)| std::cmp::Reverse(g.last_used));
    let mut tokens = store.grantless_tokens();
    tokens.sort();
    let mut clients = store.clients();
    clients.retain(|c| !grants.iter().any(|(_, g)| g.client == c.client_id));
    clients.sort_by_key(|c| std::cmp::Reverse(c.created));
    if grants.is_empty() && tokens.is_empty() && clients.is_empty() {
        return "no connected clients\n".into();
    }
    let mut out = String::new();
    if !grants.is_empty() {
        out.push_str(&format!(
            "GRANTS (`brain-mcp revoke GRANT` ends one; `brain-mcp review GRANT on` holds its writes)\n{:<20} {:<24} {:<20} {:<21} {:<21} {:<24} {:<6} {:<38} {}\n",
            "GRANT", "NAME", "REDIRECT", "CREATED", "LAST_USED", "SCOPE", "REVIEW", "LAST_WROTE", "CLIENT_ID"
        ));
        for (id, g) in &grants {
            let name = g
                .name
                .clone()
                .or_else(|| store.client(&g.client).and_then(|c| c.client_name))
                .unwrap_or_else(|| "-".into());
            let last = wrote
                .get(id.as_str())
                .map_or_else(|| "-".to_string(), |(note, at)| format!("{note} {at}"));
            out.push_str(&format!(
                "{:<20} {:<24} {:<20} {:<21} {:<21} {:<24} {:<6} {:<38} {}\n",
                cell(id, 20),
                cell(&name, 24),
                cell(g.redirect.as_deref().unwrap_or("-"), 20),
                when(g.created),
                when(g.last_used),
                scope_cell(&g.scope),
                if g.review { "on" } else { "off" },
                cell(&last, 38),
                cell(&g.client, 255),
            ));
        }
    }
    if !tokens.is_empty() {
        out.push_str(&format!(
            "CLIENT_CREDENTIALS TOKENS (no grant; `brain-mcp revoke CLIENT_ID` ends them)\n{:<26} {:>11} {:<21}\n",
            "CLIENT_ID", "LIVE_TOKENS", "LAST_EXPIRES"
        ));
        for (client, n, exp) in &tokens {
            out.push_str(&format!(
                "{:<26} {:>11} {:<21}\n",
                cell(client, 64),
                n,
                when(*exp)
            ));
        }
    }
    if !clients.is_empty() {
        out.push_str(&format!(
            "REGISTERED CLIENTS WITHOUT A GRANT (forgotten a day after registering unless used)\n{:<26} {:<24} {:<21}\n",
            "CLIENT_ID", "NAME", "REGISTERED"
        ));
        for c in &clients {
            out.push_str(&format!(
                "{:<26} {:<24} {:<21}\n",
                cell(&c.client_id, 64),
                cell(c.client_name.as_deref().unwrap_or("-"), 24),
                when(c.created)
            ));
        }
    }
    out
}

/// Client side: ask the running server, or, when none runs, open the stores under the lock.
/// `body` follows the command line (the file of an `import`).
pub fn run(dir: &Path, line: &str, body: &[u8]) -> Result<Vec<u8>, Error> {
    match UnixStream::connect(socket_path(dir)) {
        Ok(mut s) => {
            let mut msg = format!("{line}\n").into_bytes();
            msg.extend_from_slice(body);
            s.write_all(&msg)
                .and_then(|()| s.shutdown(std::net::Shutdown::Write))
                .map_err(|e| Error::Io("cannot talk to the running server".into(), e))?;
            let mut out = Vec::new();
            s.read_to_end(&mut out)
                .map_err(|e| Error::Io("cannot read the server's answer".into(), e))?;
            Ok(out)
        }
        Err(_) => {
            let _lock = crate::datadir::open_and_lock(dir)?;
            let store = Store::open(dir)?;
            let brain = Brain::open(dir).map_err(|e| Error::Store(e.to_string()))?;
            Ok(command(&store, &brain, line, body))
        }
    }
}
