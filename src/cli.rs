//! The command line: `serve` (default), `check-config`, `gen-secret`, `healthcheck`.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use crate::brain::Brain;
use crate::config::Config;
use crate::error::Error;
use crate::http::server::{Limits, Server, Service};
use crate::mcp::Mcp;
use crate::oauth::store::Store;
use crate::router::App;

pub const HELP: &str = "\
brain-mcp: a personal note memory served over MCP, with its own OAuth 2.1 server

USAGE:
    brain-mcp [serve]        run the server (configuration from the environment)
    brain-mcp check-config   validate the environment and print the settings, secrets masked
    brain-mcp gen-secret     print one new random secret (43 characters)
    brain-mcp healthcheck    GET /healthz on LISTEN_ADDR; exit 0 when healthy
    brain-mcp grants         list connected OAuth clients (works while the server runs)
    brain-mcp revoke ID      end every grant and token of client ID (or one grant, g_...)
    brain-mcp review GRANT on|off
                             hold that grant's writes until the owner accepts them
    brain-mcp pending        list the notes that wait for review
    brain-mcp accept ID      keep a pending note (other clients see it from now on)
    brain-mcp reject ID      forget a pending note
    brain-mcp export         write every note (with history) as JSON lines to stdout
    brain-mcp reindex        embed every note again (search by meaning; BRAIN_EMBED_URL)
    brain-mcp import FILE    add the notes of an export or of a memory-server JSONL file
                             (FILE - reads stdin); skips duplicates; all or nothing
    brain-mcp oidc-whoami    verify a provider's token read from stdin as /mcp would; print its
                             claims (so the owner can copy their subject into the rule)
    brain-mcp --help | --version

ENVIRONMENT (each secret may instead be read from a file named by NAME_FILE):
    BRAIN_MCP_TOKEN          static bearer token for /mcp (required, >= 32 chars)
    OAUTH_CLIENT_ID          pre-registered OAuth client (with OAUTH_CLIENT_SECRET)
    OAUTH_CLIENT_SECRET      its secret (>= 32 chars)
    MCP_RESOURCE_URL         public URL of /mcp, e.g. https://brain.example.com/mcp
    LISTEN_ADDR              bind address (default 127.0.0.1:8080; port 0 = any free port)
    BRAIN_DATA_DIR           data directory (default $STATE_DIRECTORY, else ./brain-data)
    BRAIN_OWNER_PASSWORD     consent-page password; also turns dynamic registration on
    OAUTH_REDIRECT_URIS      extra redirect URIs for the pre-registered client (comma-separated)
    BRAIN_ALLOWED_ORIGINS    extra browser origins allowed on /mcp (comma-separated)
    BRAIN_WORKERS            worker threads (default 8)
    BRAIN_TRUSTED_PROXIES    proxy addresses whose X-Forwarded-For is believed
    BRAIN_AUTH_FAILURE_LIMIT failed authentications per address per 5 minutes (default 10; 0 = off)
    BRAIN_ACCESS_TOKEN_TTL   access token lifetime in seconds (default 3600)
    BRAIN_REFRESH_TOKEN_TTL  refresh token lifetime in seconds (default 2592000, 30 days)
    BRAIN_OIDC_ISSUER        accept JWT access tokens from this OpenID provider (see README)
    BRAIN_OIDC_AUDIENCE      accepted aud values (default MCP_RESOURCE_URL)
    BRAIN_OIDC_PROFILE       rfc9068 (typ at+jwt, default) or oidc (Dex-style tokens)
    BRAIN_OIDC_ALLOWED_SUBJECTS / _ALLOWED_EMAILS / _REQUIRED_GROUP   the owner rule (one is required)
    BRAIN_OIDC_ALGS, BRAIN_OIDC_LEEWAY, BRAIN_OIDC_SCOPES, BRAIN_PRM_AUTHORIZATION_SERVERS
    BRAIN_OIDC_LOGIN         on: the owner consents, and signs in to the owner's pages, by
                             signing in at the provider, with BRAIN_OIDC_CLIENT_ID and
                             BRAIN_OIDC_CLIENT_SECRET (brain-mcp's client there);
                             BRAIN_OIDC_LOGIN_SCOPES, BRAIN_OIDC_PROVIDER_NAME
    BRAIN_TLS_CA_FILE        extra PEM roots for outbound TLS
    BRAIN_OUTBOUND_HTTP_HOSTS hosts a configured URL may reach over plain http (besides loopback)
";

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Runs a command; the return value is the process exit status.
pub fn main(args: &[String]) -> Result<i32, Error> {
    match args.first().map(String::as_str) {
        None | Some("serve") => serve().map(|_| 0),
        Some("check-config") => {
            let cfg = Config::from_env(&env)?;
            print!("{}", cfg.describe());
            // With an OpenID provider configured, its discovery and keys are fetched now:
            // a configuration that cannot reach them is not OK, although the server would
            // start (and serve its own tokens) anyway.
            if let Some(o) = &cfg.oidc {
                let client = crate::net::Client::new(&cfg.outbound);
                match crate::oidc::probe(o, &client) {
                    Ok(text) => print!("{text}"),
                    Err(why) => {
                        eprintln!("brain-mcp: oidc: cannot load the provider's keys: {why}");
                        return Ok(1);
                    }
                }
            }
            println!("configuration OK");
            Ok(0)
        }
        Some("oidc-whoami") if args.len() == 1 => oidc_whoami(),
        Some("gen-secret") => {
            println!("{}", crate::oauth::random_secret());
            Ok(0)
        }
        Some("healthcheck") => Ok(healthcheck()),
        Some("grants") if args.len() == 1 => admin("grants"),
        Some("revoke") if args.len() == 2 => admin(&format!("revoke {}", args[1])),
        Some("revoke") => Err(Error::Usage("usage: brain-mcp revoke CLIENT_ID".into())),
        Some("review") if args.len() == 3 && matches!(args[2].as_str(), "on" | "off") => {
            admin(&format!("review {} {}", args[1], args[2]))
        }
        Some("review") => Err(Error::Usage("usage: brain-mcp review GRANT on|off".into())),
        Some("pending") if args.len() == 1 => admin("pending"),
        Some(verb @ ("accept" | "reject")) if args.len() == 2 => {
            admin(&format!("{verb} {}", args[1]))
        }
        Some("accept" | "reject") => Err(Error::Usage(
            "usage: brain-mcp accept NOTE_ID, or brain-mcp reject NOTE_ID".into(),
        )),
        Some("reindex") if args.len() == 1 => reindex(),
        Some("export") if args.len() == 1 => admin("export"),
        Some("import") if args.len() == 2 => import(&args[1]),
        Some("export" | "import") => Err(Error::Usage(
            "usage: brain-mcp export > FILE, or brain-mcp import FILE".into(),
        )),
        Some("--help" | "-h" | "help") => {
            print!("{HELP}");
            Ok(0)
        }
        Some("--version" | "-V") => {
            println!("brain-mcp {}", env!("CARGO_PKG_VERSION"));
            Ok(0)
        }
        Some(other) => Err(Error::Usage(format!(
            "unknown command {other:?}; see brain-mcp --help"
        ))),
    }
}

fn serve() -> Result<(), Error> {
    let cfg = Config::from_env(&env)?;
    let _lock = crate::datadir::open_and_lock(&cfg.data_dir)?;
    let brain = Brain::open(&cfg.data_dir).map_err(|e| Error::Store(e.to_string()))?;
    let store = Store::open(&cfg.data_dir)?;
    let pre = cfg.client.as_ref().map(|(id, _)| id.as_str());
    match store.revoke_grantless_except(pre) {
        Ok(0) => {}
        Ok(n) => crate::log::line(&format!(
            "revoked {n} client_credentials tokens held by clients other than the pre-registered one"
        )),
        Err(e) => return Err(Error::Io("cannot write to the token store".into(), e)),
    }
    let mut server = Server::bind(
        cfg.listen,
        Limits::default(),
        cfg.workers,
        cfg.trusted_proxies.clone(),
    )
    .map_err(|e| Error::Io(format!("cannot listen on {}", cfg.listen), e))?;
    let bound = server
        .local_addr()
        .map_err(|e| Error::Io("cannot read the bound address".into(), e))?;
    let resource = cfg.effective_resource_url(bound);
    let notes = brain.len();
    // The issuer (the origin of MCP_RESOURCE_URL) is where notes get their canonical URLs.
    let issuer = crate::config::parse_url(&resource)
        .map(|u| u.origin)
        .ok_or_else(|| Error::Config("MCP_RESOURCE_URL does not parse".into()))?;
    let mcp = Mcp::new(Arc::new(brain), &issuer);
    let dir = cfg.data_dir.clone();
    let app = Arc::new(App::new(cfg, resource.clone(), store, mcp).map_err(Error::Config)?);
    if let Some(settings) = app.cfg.embed.clone() {
        let send = crate::brain::meaning::transport(app.outbound.clone());
        let m = crate::brain::meaning::Meaning::start(&dir, settings, send);
        let queued = app.mcp.brain.attach_meaning(m);
        crate::log::line(&format!(
            "search by meaning on; {queued} notes queued for a vector"
        ));
    }
    // Dropped (admin.sock removed) on every way out of here, before the lock is released.
    let admin_socket = crate::admin::spawn(&dir, app.clone())?;
    server
        .catch_signals()
        .map_err(|e| Error::Io("cannot catch SIGTERM".into(), e))?;
    crate::log::line(&format!(
        "listening on http://{bound} (resource {resource}, {notes} notes)"
    ));
    let service: Arc<dyn Service> = Arc::new(app);
    let served = server.run(service);
    drop(admin_socket);
    served.map_err(|e| Error::Io("server failed".into(), e))?;
    crate::log::line("stopped");
    Ok(())
}

/// Verifies the token on stdin with the provider's keys, fetched now. Needs only the
/// `BRAIN_OIDC_*` variables (no owner rule yet: this is how the owner finds their subject).
fn oidc_whoami() -> Result<i32, Error> {
    let var = |k: &str| env(k).filter(|v| !v.is_empty());
    let resource_is_loopback = var("MCP_RESOURCE_URL")
        .as_deref()
        .and_then(crate::config::parse_url)
        .is_none_or(|u| crate::config::is_loopback_host(u.host));
    let outbound = crate::net::Settings::from_env(&var, resource_is_loopback)?;
    let Some(settings) = crate::oidc::Settings::from_env(&var, &outbound.http_hosts, false)? else {
        return Err(Error::Config("oidc-whoami needs BRAIN_OIDC_ISSUER".into()));
    };
    // The default audience is the resource URL, derived as the server would.
    let cfg_listen: SocketAddr = var("LISTEN_ADDR")
        .and_then(|s| s.parse().ok())
        .unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080));
    let resource = var("MCP_RESOURCE_URL").unwrap_or_else(|| format!("http://{cfg_listen}/mcp"));
    let mut input = String::new();
    std::io::stdin()
        .take(crate::oidc::jwt::MAX_TOKEN as u64 + 1024)
        .read_to_string(&mut input)
        .map_err(|e| Error::Io("cannot read the token from stdin".into(), e))?;
    let token = input.trim();
    let token = token.strip_prefix("Bearer ").unwrap_or(token).trim();
    let client = crate::net::Client::new(&outbound);
    match crate::oidc::whoami(&settings, &resource, &client, token) {
        Ok(text) => {
            print!("{text}");
            Ok(0)
        }
        Err(text) => {
            eprint!("{text}");
            if !text.ends_with('\n') {
                eprintln!();
            }
            Ok(1)
        }
    }
}

/// An owner's command, through the running server when there is one.
fn admin(line: &str) -> Result<i32, Error> {
    admin_with(line, &[])
}

fn admin_with(line: &str, body: &[u8]) -> Result<i32, Error> {
    let dir = crate::config::data_dir(&env);
    let out = crate::admin::run(&dir, line, body)?;
    let failed = out.starts_with(b"error:");
    let written = if failed {
        std::io::stderr().write_all(&out)
    } else {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(&out).and_then(|()| stdout.flush())
    };
    written.map_err(|e| Error::Io("cannot write the output".into(), e))?;
    Ok(if failed { 1 } else { 0 })
}

/// `brain-mcp reindex`: through the running server's admin socket, or, with none running,
/// here under the directory lock: every note embedded again with the configured endpoint,
/// waiting until each has its vector.
fn reindex() -> Result<i32, Error> {
    let dir = crate::config::data_dir(&env);
    if crate::admin::socket_reachable(&dir) {
        return admin("reindex");
    }
    let var = |k: &str| env(k).filter(|v| !v.is_empty());
    let outbound = crate::net::Settings::from_env(&var, true)?;
    let Some(settings) = crate::config::embed_settings(&var, &outbound.http_hosts)? else {
        return Err(Error::Config(
            "reindex needs BRAIN_EMBED_URL and BRAIN_EMBED_MODEL (search by meaning is not configured)".into(),
        ));
    };
    let _lock = crate::datadir::open_and_lock(&dir)?;
    let brain = Brain::open(&dir).map_err(|e| Error::Store(e.to_string()))?;
    let send = crate::brain::meaning::transport(crate::net::Client::new(&outbound));
    brain.attach_meaning(crate::brain::meaning::Meaning::start(&dir, settings, send));
    let queued = brain.reindex().unwrap_or(0);
    eprintln!("reindexing {queued} notes");
    let Some(m) = brain.meaning() else {
        return Ok(1);
    };
    let mut last = usize::MAX;
    let mut progress = std::time::Instant::now();
    loop {
        let waiting = m.waiting();
        if waiting == 0 {
            break;
        }
        if let Some(why) = m.blocked() {
            eprintln!("error: {why}");
            return Ok(1);
        }
        if waiting != last {
            eprintln!("{waiting} notes waiting for a vector");
            last = waiting;
            progress = std::time::Instant::now();
        }
        // An endpoint that stays down: give up rather than wait forever (the vectors stored
        // so far are kept; the server's start or another reindex carries on from them).
        if progress.elapsed() > std::time::Duration::from_secs(300) {
            let why = m.health()["last_error"]
                .as_str()
                .unwrap_or("no progress")
                .to_string();
            eprintln!("error: no vector stored for 5 minutes ({why}); {waiting} notes still wait");
            return Ok(1);
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    println!(
        "reindexed: {queued} notes have vectors of {}",
        m.health()["model"]
    );
    Ok(0)
}

fn import(file: &str) -> Result<i32, Error> {
    let mut bytes = Vec::new();
    let read = if file == "-" {
        std::io::stdin().read_to_end(&mut bytes)
    } else {
        std::fs::File::open(file).and_then(|mut f| f.read_to_end(&mut bytes))
    };
    read.map_err(|e| Error::Io(format!("cannot read {file}"), e))?;
    admin_with("import", &bytes)
}

/// For container health checks, which have no shell and no curl.
fn healthcheck() -> i32 {
    let listen: SocketAddr = env("LISTEN_ADDR")
        .and_then(|s| s.parse().ok())
        .unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080));
    let ip = if listen.ip().is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        listen.ip()
    };
    let addr = SocketAddr::new(ip, listen.port());
    let check = || -> std::io::Result<bool> {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
        s.set_read_timeout(Some(Duration::from_secs(3)))?;
        s.set_write_timeout(Some(Duration::from_secs(3)))?;
        write!(
            s,
            "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )?;
        let mut out = Vec::new();
        s.take(64 * 1024).read_to_end(&mut out)?;
        Ok(out.starts_with(b"HTTP/1.1 200 ")
            && String::from_utf8_lossy(&out).contains("\"status\":\"ok\""))
    };
    match check() {
        Ok(true) => {
            println!("healthy");
            0
        }
        Ok(false) => {
            eprintln!("brain-mcp healthcheck: {addr} answered, but not healthy");
            1
        }
        Err(e) => {
            eprintln!("brain-mcp healthcheck: {addr}: {e}");
            1
        }
    }
}
