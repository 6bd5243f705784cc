//! Measures the brain in-process against its performance floors: `open` under 1 s with 100,000
//! notes and search p99 under 5 ms over 10,000 notes (release build), and reports the heap it
//! holds per note.
//!
//! `cargo run --release --example bench_brain -- [NOTES]` (default 10000). The store is written
//! straight into a temp dir in the log's own format (one fsync per `remember` would make a
//! 100k-note setup take minutes), then opened from the log, searched, listed and written to
//! through the public API, closed, and opened again (from the snapshot written meanwhile when
//! the log is over 8 MiB). With `BENCH_BRAIN_DIR=/some/dir` the store is made there and kept.
//! The service as deployed is measured by `scripts/bench/scale.py` (over HTTP, static build).

use std::alloc::{GlobalAlloc, Layout, System};
use std::fs;
use std::io::Write;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

/// The system allocator, counting the bytes in use: what the brain holds, not what the
/// allocator kept.
struct Counting;

static IN_USE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is passed to the system allocator unchanged; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        IN_USE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        IN_USE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        IN_USE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        IN_USE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn heap() -> isize {
    IN_USE.load(Ordering::Relaxed)
}

use brain_mcp::brain::Brain;
use brain_mcp::time;

const COMMON: &str = "the of and to in is that it for was on are as with his they at be this from \
    have or by one had not but what all were when we there can an your which their said if do \
    will each about how up out them then she many some so these would other into has more her \
    two like him see time could no make than first been its who now people my made over did down \
    only way find use may water long little very after words called just where most know get \
    through back much before go good new write our used me man too any day same right look think \
    also around another came come work three word must because does part even place well such \
    here take why things help put years different away again off went old number great tell men \
    say small every found still between name should home big give air line set own under read \
    last never us left end along while might next sound below saw something thought both few \
    those always looked show large often together asked house world going want school important \
    until form food keep children feet land side without boy once animals life enough took sometimes \
    four head above kind began almost live page got earth need far hand high year mother light \
    parts country father let night following picture being study second eyes soon times story \
    boys since white days ever paper hard near sentence better best across during today others \
    however sure means knew try told young miles sun ways thing whole hear example heard several \
    change answer room sea against top turned learn point city play toward five using himself \
    usually money seen car morning given trees body family later order move run stop quickly";

const TOPICS: &str = "rust server deploy kernel database backup invoice meeting recipe garden \
    bicycle vaccine passport flight hotel budget mortgage insurance dentist birthday gift \
    password router certificate docker postgres sqlite index latency throughput memory cache \
    compiler borrow lifetime trait async thread mutex channel socket protocol oauth token \
    crème brûlée café naïve straße smørrebrød jalapeño piñata façade über";

const TAGS: &[&str] = &[
    "work", "home", "ideas", "todo", "reading", "rust", "travel", "health", "finance", "family",
    "recipes", "music", "garden", "car", "house", "projects", "people", "meetings", "journal",
    "shopping",
];

/// xorshift64*: deterministic, good enough to make text.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Words with a Zipf-like distribution: common English first, then topic words, then a long
/// tail of made-up rare words (names, jargon) so posting lists look like real notes'.
struct Vocab {
    words: Vec<String>,
    cdf: Vec<f64>,
}

impl Vocab {
    fn new(rng: &mut Rng) -> Vocab {
        let mut words: Vec<String> = COMMON.split_whitespace().map(String::from).collect();
        words.extend(TOPICS.split_whitespace().map(String::from));
        let syll = [
            "ka", "lo", "mi", "ren", "tor", "vel", "qua", "zin", "bar", "dex", "fu", "gri",
        ];
        for _ in 0..5000 {
            let n = 2 + rng.below(3);
            words.push((0..n).map(|_| syll[rng.below(syll.len())]).collect());
        }
        let mut total = 0.0;
        let cdf = (0..words.len())
            .map(|r| {
                total += 1.0 / (r as f64 + 2.0);
                total
            })
            .collect::<Vec<_>>();
        let cdf = cdf.into_iter().map(|c| c / total).collect();
        Vocab { words, cdf }
    }
    fn word(&self, rng: &mut Rng) -> &str {
        let u = rng.unit();
        let i = self
            .cdf
            .partition_point(|&c| c < u)
            .min(self.words.len() - 1);
        &self.words[i]
    }
}

fn note_text(v: &Vocab, rng: &mut Rng) -> String {
    let n = 15 + rng.below(66);
    let mut s = String::new();
    for i in 0..n {
        let w = v.word(rng);
        if i == 0 {
            let mut c = w.chars();
            if let Some(f) = c.next() {
                s.extend(f.to_uppercase());
                s.push_str(c.as_str());
            }
        } else {
            s.push_str(w);
        }
        s.push_str(match rng.below(12) {
            0 => ". ",
            1 => ", ",
            _ => " ",
        });
    }
    s.truncate(s.trim_end().len());
    s.push('.');
    s
}

/// CPU time (user + system, all threads) of this process in ms, from /proc (Linux; 10 ms
/// resolution), to tell our cost from a busy machine's.
fn process_cpu_ms() -> Option<f64> {
    let s = fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the ")" that ends the command name; utime and stime are fields 14 and 15.
    let rest = s.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 * 10.0) // USER_HZ is 100 on Linux
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let n: usize = match std::env::args().nth(1).map(|a| a.parse()) {
        None => 10_000,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            eprintln!("usage: bench_brain [NOTES]");
            std::process::exit(2);
        }
    };
    // BENCH_BRAIN_DIR keeps the generated store there (for profiling `open` again and again).
    let keep = std::env::var_os("BENCH_BRAIN_DIR").map(std::path::PathBuf::from);
    let dir = keep.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("bench-brain-{}", std::process::id()))
    });
    let _ = fs::remove_dir_all(&dir);
    if let Err(e) = fs::create_dir_all(&dir) {
        eprintln!("cannot create {}: {e}", dir.display());
        std::process::exit(1);
    }

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let vocab = Vocab::new(&mut rng);
    let start = time::unix_now() - n as u64 * 60;
    let mut out = std::io::BufWriter::new(fs::File::create(dir.join("notes.jsonl")).unwrap());
    let mut seq = 0u64;
    let mut live = 0usize;
    for i in 0..n {
        seq += 1;
        let ntags = rng.below(4);
        let mut tags: Vec<&str> = Vec::new();
        for _ in 0..ntags {
            let t = TAGS[rng.below(TAGS.len())];
            // Each tag once: the log holds tags as `remember` stores them, and `open` checks.
            if !tags.contains(&t) {
                tags.push(t);
            }
        }
        let at = time::format_rfc3339(start + i as u64 * 60);
        let id = format!("n_{:012x}", rng.next() >> 16);
        let line = serde_json::json!({
            "op": "put", "seq": seq, "id": id, "text": note_text(&vocab, &mut rng),
            "tags": tags, "created_at": at, "updated_at": at,
        });
        writeln!(out, "{line}").unwrap();
        live += 1;
        // One note in twenty is forgotten again (too few to trigger compaction).
        if rng.below(20) == 0 {
            seq += 1;
            let del = serde_json::json!({"op": "del", "seq": seq, "id": id, "at": at});
            writeln!(out, "{del}").unwrap();
            live -= 1;
        }
    }
    out.into_inner().unwrap().sync_all().unwrap();
    let size = fs::metadata(dir.join("notes.jsonl")).unwrap().len();
    println!(
        "notes: {live} live, {seq} records, log {:.1} MB",
        size as f64 / 1e6
    );

    let cpu = process_cpu_ms();
    let heap_before = heap();
    let t = Instant::now();
    let brain = Brain::open(&dir).unwrap();
    let wall = ms(t.elapsed());
    match (cpu, process_cpu_ms()) {
        (Some(a), Some(b)) => println!("open: {wall:.1} ms (cpu, all threads: {:.0} ms)", b - a),
        _ => println!("open: {wall:.1} ms"),
    }
    assert_eq!(brain.len(), live);
    let held = heap() - heap_before;
    println!(
        "heap after open: {:.1} MB, {} bytes per note",
        held as f64 / 1e6,
        held / live.max(1) as isize
    );

    let mut times = Vec::with_capacity(1000);
    let mut hits = 0;
    for i in 0..1000 {
        let words = 1 + rng.below(3);
        let q: Vec<&str> = (0..words).map(|_| vocab.word(&mut rng)).collect();
        let q = q.join(" ");
        let tag = (i % 5 == 0).then(|| TAGS[rng.below(TAGS.len())]);
        let t = Instant::now();
        let r = brain.search(&q, tag, 10);
        times.push(t.elapsed());
        hits += r.len();
    }
    times.sort();
    println!("search p50: {:.3} ms", ms(times[499]));
    println!("search p99: {:.3} ms", ms(times[989]));
    println!("search max: {:.3} ms", ms(times[999]));
    println!("search hits: {:.1} per query", hits as f64 / 1000.0);

    let t = Instant::now();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let (_, next) = brain.list(None, 100, cursor.as_deref()).unwrap();
        pages += 1;
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    println!("list: {pages} pages of 100 in {:.1} ms", ms(t.elapsed()));

    let mut times = Vec::new();
    for _ in 0..50 {
        let text = note_text(&vocab, &mut rng);
        let t = Instant::now();
        brain.remember(&text, &["bench".to_string()]).unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    println!("remember p50 (with fsync): {:.3} ms", ms(times[25]));

    // Closing waits for a snapshot being written; the next open reads it.
    drop(brain);
    let t = Instant::now();
    let brain = Brain::open(&dir).unwrap();
    println!("open again: {:.1} ms", ms(t.elapsed()));
    assert_eq!(brain.len(), live + 50);
    drop(brain);
    if keep.is_none() {
        let _ = fs::remove_dir_all(&dir);
    }
}
