//! Read the command line, run it, map the result to an exit status.

/// The static build links musl, whose allocator serializes every thread on one lock; see
/// Cargo.toml.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // A panic message can quote data; ours never says more than where it happened.
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let thread = std::thread::current();
        brain_mcp::log::line(&format!(
            "panic in thread {} at {at}",
            thread.name().unwrap_or("?")
        ));
    }));
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match brain_mcp::cli::main(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("brain-mcp: {e}");
            1
        }
    };
    std::process::exit(code);
}
