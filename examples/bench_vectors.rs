//! Microbenchmark of the vector store (`brain::vectors`): N random 384-dimensional unit
//! vectors stored as int8, then exact brute-force cosines of a query against all of them
//! (what hybrid search does per query), the top 10, and the fusion with 50 word hits.
//!
//! `cargo run --release --example bench_vectors -- [N] [queries]` (defaults 100000 and 200).

use brain_mcp::brain::vectors::{self, Store};
use std::time::Instant;

const DIM: usize = 384;

fn unit(state: &mut u64) -> Vec<f32> {
    let v: Vec<f32> = (0..DIM)
        .map(|_| {
            *state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((*state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        })
        .collect();
    let n = vectors::dot(&v, &v).sqrt();
    v.into_iter().map(|a| a / n).collect()
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let queries: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let dir = std::env::temp_dir().join(format!("brain-bench-vectors-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("{}: {e}", dir.display());
        std::process::exit(1);
    }
    let path = dir.join(vectors::FILE_NAME);
    let run = || -> Result<(), String> {
        let mut state = 7u64;
        let t = Instant::now();
        let mut s = Store::open(&path, "bench", DIM).map_err(|e| e.to_string())?;
        for i in 0..n {
            s.put(&format!("n_{i:012}"), i as u64, &unit(&mut state))
                .map_err(|e| e.to_string())?;
        }
        s.sync().map_err(|e| e.to_string())?;
        let write = t.elapsed();
        drop(s);
        let t = Instant::now();
        let s = Store::open(&path, "bench", DIM).map_err(|e| e.to_string())?;
        let open = t.elapsed();
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let mut cos_ms = Vec::new();
        let mut top_ms = Vec::new();
        let mut fuse_ms = Vec::new();
        let mut check = 0.0f64;
        for _ in 0..queries {
            let q = unit(&mut state);
            let t = Instant::now();
            let cos = s.cosines(&q);
            cos_ms.push(t.elapsed().as_secs_f64() * 1000.0);
            let t = Instant::now();
            let mut idx: Vec<usize> = (0..cos.len()).collect();
            let k = 10.min(idx.len());
            if k > 0 {
                idx.select_nth_unstable_by(k - 1, |&a, &b| cos[b].total_cmp(&cos[a]));
                idx.truncate(k);
                idx.sort_by(|&a, &b| cos[b].total_cmp(&cos[a]));
            }
            top_ms.push(t.elapsed().as_secs_f64() * 1000.0);
            let words: Vec<(usize, f64)> = (0..50.min(n))
                .map(|i| (i * 7 % n, 10.0 - i as f64 * 0.1))
                .collect();
            let t = Instant::now();
            let fused = vectors::fuse(&words, &cos, vectors::WORDS_WEIGHT);
            fuse_ms.push(t.elapsed().as_secs_f64() * 1000.0);
            check +=
                fused.first().map_or(0.0, |f| f.1) + idx.first().map_or(0.0, |&i| cos[i] as f64);
        }
        for v in [&mut cos_ms, &mut top_ms, &mut fuse_ms] {
            v.sort_by(f64::total_cmp);
        }
        println!(
            "{n} vectors of {DIM} dims (int8 + scale): file {:.1} MB ({:.0} bytes per vector), written in {:.2} s, reopened in {:.0} ms",
            size as f64 / 1e6,
            size as f64 / n.max(1) as f64,
            write.as_secs_f64(),
            open.as_secs_f64() * 1000.0
        );
        println!(
            "per query over {queries} queries: cosines p50 {:.2} ms p99 {:.2} ms; top 10 p50 {:.2} ms; fuse with 50 word hits p50 {:.2} ms p99 {:.2} ms (checksum {check:.3})",
            pct(&cos_ms, 0.5),
            pct(&cos_ms, 0.99),
            pct(&top_ms, 0.5),
            pct(&fuse_ms, 0.5),
            pct(&fuse_ms, 0.99)
        );
        Ok(())
    };
    let r = run();
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = r {
        eprintln!("bench_vectors: {e}");
        std::process::exit(1);
    }
}
