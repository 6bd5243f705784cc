//! The owner's commands (`brain-mcp grants`, `brain-mcp revoke CLIENT_ID`) while the server
//! runs: the server listens on a Unix socket inside the data directory (mode 0700, so only
//! the owner of the data can connect) and answers one command per connection. When no
//! server runs, the command opens the store itself.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;
use crate::oauth::store::Store;
use crate::router::App;
use crate::time::format_rfc3339_millis;

pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join("admin.sock")
}

/// Starts the admin listener. We hold the data-directory lock, so a socket file left there
/// is stale and can go.
pub fn spawn(dir: &Path, app: Arc<App>) -> Result<(), Error> {
    let path = socket_path(dir);
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)
        .map_err(|e| Error::Io(format!("cannot listen on {}", path.display()), e))?;
    std::thread::Builder::new()
        .name("admin".into())
        .spawn(move || {
            for conn in listener.incoming().flatten() {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
                let _ = conn.set_write_timeout(Some(Duration::from_secs(10)));
                let mut line = String::new();
                // One short command line; anything longer is not ours.
                if BufReader::new((&conn).take(1024))
                    .read_line(&mut line)
                    .is_err()
                {
                    continue;
                }
                let reply = command(&app.store, line.trim());
                let _ = (&conn).write_all(reply.as_bytes());
            }
        })
        .map_err(|e| Error::Io("cannot start the admin thread".into(), e))?;
    Ok(())
}

/// Runs one admin command against a store and returns what to print.
pub fn command(store: &Store, line: &str) -> String {
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next(), parts.next()) {
        (Some("grants"), None, None) => grants_table(store),
        (Some("revoke"), Some(id), None) => match store.revoke_client(id) {
            Ok(()) => format!("revoked every grant and token of client {id}\n"),
            Err(e) => format!("error: could not write the revocation: {e}\n"),
        },
        _ => "error: unknown admin command\n".into(),
    }
}

fn when(secs: u64) -> String {
    let s = format_rfc3339_millis(Duration::from_secs(secs));
    // Seconds are enough for people.
    format!("{}Z", &s[..19])
}

fn grants_table(store: &Store) -> String {
    let mut grants = store.grants();
    grants.sort_by_key(|(_, g)| std::cmp::Reverse(g.last_used));
    if grants.is_empty() {
        return "no connected clients\n".into();
    }
    let mut out = format!(
        "{:<26} {:<24} {:<21} {:<21}\n",
        "CLIENT_ID", "NAME", "CREATED", "LAST_USED"
    );
    for (_, g) in grants {
        let name = store
            .client(&g.client)
            .and_then(|c| c.client_name)
            .unwrap_or_else(|| "-".into());
        let name: String = name
            .chars()
            .take(24)
            .map(|c| if c.is_control() { '?' } else { c })
            .collect();
        out.push_str(&format!(
            "{:<26} {:<24} {:<21} {:<21}\n",
            g.client,
            name,
            when(g.created),
            when(g.last_used)
        ));
    }
    out
}

/// Client side: ask the running server, or, when none runs, open the store under the lock.
pub fn run(dir: &Path, line: &str) -> Result<String, Error> {
    match UnixStream::connect(socket_path(dir)) {
        Ok(mut s) => {
            s.write_all(format!("{line}\n").as_bytes())
                .map_err(|e| Error::Io("cannot talk to the running server".into(), e))?;
            let mut out = String::new();
            s.read_to_string(&mut out)
                .map_err(|e| Error::Io("cannot read the server's answer".into(), e))?;
            Ok(out)
        }
        Err(_) => {
            let _lock = crate::datadir::open_and_lock(dir)?;
            let store = Store::open(dir)?;
            Ok(command(&store, line))
        }
    }
}
