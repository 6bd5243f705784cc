//! Runs the relevance test set (`tests/relevance/`) through a real brain in a temp dir and
//! prints how many queries put the expected note first and in the top 3.
//!
//! `cargo run --release --example relevance` (add `-- -v` to list the queries that missed).

use brain_mcp::brain::Brain;

#[path = "../tests/relevance/runner.rs"]
mod runner;

fn main() {
    let verbose = std::env::args().any(|a| a == "-v");
    let dir = std::env::temp_dir().join(format!("brain-relevance-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let brain = match Brain::open(&dir) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("cannot open a brain in {}: {e}", dir.display());
            std::process::exit(1);
        }
    };
    let figures = runner::evaluate(
        runner::NOTES,
        runner::QUERIES,
        |text, tags| {
            brain
                .remember(text, tags)
                .map(|n| n.id)
                .map_err(|e| e.to_string())
        },
        |q| {
            brain
                .search(q, None, 10)
                .into_iter()
                .map(|h| h.note.id)
                .collect()
        },
    );
    drop(brain);
    let _ = std::fs::remove_dir_all(&dir);
    match figures {
        Ok(f) => {
            if verbose {
                for m in &f.misses {
                    println!("miss: {m}");
                }
            }
            println!(
                "top1 {}/{} top3 {}/{}",
                f.top1, f.queries, f.top3, f.queries
            );
        }
        Err(e) => {
            eprintln!("relevance: {e}");
            std::process::exit(1);
        }
    }
}
