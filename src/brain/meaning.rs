//! Search by meaning (issue 14): the background indexer that keeps `vectors.bin` in step with
//! the notes, the query's vector (under a deadline, cached), and the fused ranking.
//!
//! Only present when `BRAIN_EMBED_URL` is set; without it the brain has no thread and no file
//! for this. Vectors are derived data: any of them can be recomputed, so a failure here never
//! fails a write or a search. A search answers from words alone and says why when meaning
//! cannot take part (endpoint down, slow, refusing, another model in the store).
//!
//! Nothing is mixed: the store's header names the model and dimension its vectors came from.
//! A configured model that differs, or an endpoint answering in another dimension, turns
//! meaning off (and stops the indexer) until `brain-mcp reindex` starts the store again.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::state::State;
use super::vectors::{self, Store, StoreError};
use crate::embed::{self, EmbedError, Purpose, TransportError};

/// Sends one request to the embeddings endpoint within a total deadline (the server builds
/// it on its one outbound client, `net::Client`, with `Target::Configured`).
pub type Transport =
    Arc<dyn Fn(&embed::Request, Duration) -> Result<embed::Response, TransportError> + Send + Sync>;

/// How meaning is configured.
#[derive(Clone, Debug)]
pub struct Settings {
    pub embed: embed::Config,
    /// The query embedding's deadline: past it a search answers from words alone.
    pub query_deadline: Duration,
    /// A batch of notes' deadline (the background indexer).
    pub batch_deadline: Duration,
    /// Notes waiting for a vector, at most; more are picked up by the next start or reindex.
    pub queue_max: usize,
}

impl Settings {
    pub fn new(embed: embed::Config) -> Settings {
        Settings {
            embed,
            query_deadline: Duration::from_millis(300),
            batch_deadline: Duration::from_secs(60),
            queue_max: 200_000,
        }
    }
}

/// Which part of the search put a hit on the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Found {
    #[default]
    Words,
    Meaning,
    Both,
}

impl Found {
    pub fn as_str(self) -> &'static str {
        match self {
            Found::Words => "words",
            Found::Meaning => "meaning",
            Found::Both => "both",
        }
    }
}

/// Whether meaning took part in one search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Used {
    /// No embeddings endpoint is configured: words alone, as designed.
    NotConfigured,
    Used,
    /// Words alone, and why (said in the result).
    Off(String),
}

impl Used {
    /// The `meaning` field of a search result: `"used"` or `"off: <why>"`; `None` when not
    /// configured (the result is then exactly what it was before meaning existed).
    pub fn field(&self) -> Option<String> {
        match self {
            Used::NotConfigured => None,
            Used::Used => Some("used".into()),
            Used::Off(why) => Some(format!("off: {why}")),
        }
    }
}

/// The weight of words in the fusion (tests/relevance/README.md).
const ALPHA: f64 = vectors::WORDS_WEIGHT;
/// Query vectors remembered (a client paging through results asks the same query again).
const CACHE: usize = 64;
/// A failure is logged at most this often.
const LOG_EVERY: Duration = Duration::from_secs(60);
/// Retries of a failed batch wait 1 s, 2 s, 4 s ... up to this.
const BACKOFF_MAX: Duration = Duration::from_secs(60);

pub struct Meaning {
    inner: Arc<Inner>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

struct Inner {
    settings: Settings,
    path: PathBuf,
    send: Transport,
    /// `None` until the first vector tells the dimension (or while meaning is off).
    store: RwLock<Option<Store>>,
    queue: Mutex<Queue>,
    wake: Condvar,
    status: Mutex<Status>,
    cache: Mutex<VecDeque<(String, Arc<Vec<f32>>)>>,
}

#[derive(Default)]
struct Queue {
    /// Note id → (hash of the text to embed, that text): the latest version wanted.
    wanted: HashMap<String, (u64, String)>,
    /// Ids in the order they were asked for (an id may appear more than once; `wanted` says
    /// whether it is still due).
    order: VecDeque<String>,
    /// Notes not queued because the queue was full (the next start or reindex finds them).
    dropped: u64,
    stop: bool,
    /// Bumped by a reindex: a batch sent before it is thrown away when it comes back.
    generation: u64,
}

#[derive(Default)]
struct Status {
    /// Meaning is off until a reindex: the store holds another model's vectors, or the
    /// endpoint answers in another dimension. Nothing is indexed meanwhile.
    blocked: Option<String>,
    /// The last failure talking to the endpoint, and when.
    last_error: Option<(String, Instant)>,
    last_ok: Option<Instant>,
    last_logged: Option<Instant>,
    /// The indexer is waiting before a retry.
    retrying: bool,
}

impl Meaning {
    /// Opens `vectors.bin` in `dir` and starts the indexer thread.
    pub fn start(dir: &Path, settings: Settings, send: Transport) -> Meaning {
        let path = dir.join(vectors::FILE_NAME);
        let mut status = Status::default();
        let store = match open_store(&path, &settings.embed.model) {
            Ok(s) => s,
            Err(why) => {
                crate::log::line(&format!("meaning: {why}"));
                status.blocked = Some(why);
                None
            }
        };
        if let Some(s) = &store {
            if s.cut_at_open > 0 {
                crate::log::line(&format!(
                    "meaning: cut {} bytes of a torn tail off {} (those vectors are recomputed)",
                    s.cut_at_open,
                    path.display()
                ));
            }
        }
        let inner = Arc::new(Inner {
            settings,
            path,
            send,
            store: RwLock::new(store),
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            status: Mutex::new(status),
            cache: Mutex::new(VecDeque::new()),
        });
        let worker = {
            let inner = inner.clone();
            std::thread::Builder::new()
                .name("brain-meaning".into())
                .spawn(move || inner.run())
                .ok()
        };
        Meaning {
            inner,
            worker: Mutex::new(worker),
        }
    }

    /// A note was written: its vector is (re)computed in the background.
    pub fn written(&self, id: &str, text: &str, tags: &[String]) {
        let text = embedded_text(text, tags);
        let hash = vectors::text_hash(&text);
        let mut q = self.inner.lock_queue();
        self.inner.push(&mut q, id, hash, text);
        drop(q);
        self.inner.wake.notify_all();
    }

    /// A note was forgotten: its vector goes too (and any pending computation of it).
    pub fn forgotten(&self, id: &str) {
        let mut q = self.inner.lock_queue();
        q.wanted.remove(id);
        let mut st = self.inner.write_store();
        if let Some(s) = st.as_mut() {
            if let Err(e) = s.delete(id) {
                crate::log::line(&format!("meaning: cannot record a deletion: {e}"));
            }
        }
    }

    /// Brings the store in step with `notes` (every live note: id, text, tags): queues the
    /// notes whose vector is missing or was computed from another text, and deletes vectors of
    /// notes that are gone. Called at start; with `fresh` (reindex) the store starts again
    /// empty, for the configured model, whatever it held. Returns how many notes were queued.
    pub fn sync(&self, notes: Vec<(String, String, Vec<String>)>, fresh: bool) -> usize {
        let mut q = self.inner.lock_queue();
        let mut st = self.inner.write_store();
        if fresh {
            *st = None;
            q.wanted.clear();
            q.order.clear();
            q.dropped = 0;
            q.generation += 1;
            if let Err(e) = std::fs::remove_file(&self.inner.path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    crate::log::line(&format!("meaning: cannot remove the old vectors: {e}"));
                }
            }
            self.inner.lock_status().blocked = None;
            self.inner
                .cache
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
        }
        let mut live = std::collections::HashSet::with_capacity(notes.len());
        let mut queued = 0;
        for (id, text, tags) in notes {
            let text = embedded_text(&text, &tags);
            let hash = vectors::text_hash(&text);
            let have = st.as_ref().and_then(|s| s.hash_of(&id));
            if have != Some(hash) {
                self.inner.push(&mut q, &id, hash, text);
                queued += 1;
            }
            live.insert(id);
        }
        if let Some(s) = st.as_mut() {
            let gone: Vec<String> = (0..s.len())
                .map(|slot| s.id(slot).to_string())
                .filter(|id| !live.contains(id))
                .collect();
            for id in gone {
                let _ = s.delete(&id);
            }
            let _ = s.sync();
        }
        drop(st);
        drop(q);
        self.inner.wake.notify_all();
        queued
    }

    /// The query's vector, from the cache or the endpoint within the deadline; `Err` says
    /// why a search must answer from words alone.
    pub fn query_vector(&self, query: &str) -> Result<Arc<Vec<f32>>, String> {
        if let Some(why) = &self.inner.lock_status().blocked {
            return Err(why.clone());
        }
        let dim = match self.inner.read_store().as_ref() {
            Some(s) if !s.is_empty() => s.dim(),
            _ => return Err("no note has a vector yet".into()),
        };
        {
            let mut c = self
                .inner
                .cache
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(at) = c.iter().position(|(q, _)| q == query) {
                if let Some(hit) = c.remove(at) {
                    let v = hit.1.clone();
                    c.push_front(hit);
                    return Ok(v);
                }
            }
        }
        let deadline = self.inner.settings.query_deadline;
        let send = |r: &embed::Request| (self.inner.send)(r, deadline);
        match embed::embed(
            &self.inner.settings.embed,
            &send,
            Purpose::Query,
            &[query],
            Some(dim),
        ) {
            Ok(mut e) => {
                let v = Arc::new(e.vectors.pop().unwrap_or_default());
                self.inner.lock_status().last_ok = Some(Instant::now());
                let mut c = self
                    .inner
                    .cache
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                c.push_front((query.to_string(), v.clone()));
                c.truncate(CACHE);
                Ok(v)
            }
            Err(e) => {
                let why = match &e {
                    EmbedError::Transport(TransportError::Timeout) => format!(
                        "the embeddings endpoint did not answer within {} ms",
                        deadline.as_millis()
                    ),
                    other => other.to_string(),
                };
                self.inner.failed(&why);
                if let EmbedError::WrongDimension { .. } = e {
                    self.inner.block(why.clone());
                }
                Err(why)
            }
        }
    }

    /// The fused `(score, row, found)` ranking of `query` among the notes `accept` lets
    /// through, best first, at most `want`; `None` when the store is gone (reindex started).
    pub(super) fn rank(
        &self,
        s: &State,
        query: &str,
        qv: &[f32],
        accept: &dyn Fn(u32) -> bool,
        want: usize,
    ) -> Option<Vec<(f64, u32, Found)>> {
        let st = self.inner.read_store();
        let store = st.as_ref()?;
        Some(fused(s, store, query, qv, accept, want))
    }

    /// What `/healthz` shows.
    pub fn health(&self) -> serde_json::Value {
        let q = self.inner.lock_queue();
        let waiting = q.wanted.len();
        let dropped = q.dropped;
        drop(q);
        let (vectors, dim) = match self.inner.read_store().as_ref() {
            Some(s) => (s.len(), Some(s.dim())),
            None => (0, None),
        };
        let st = self.inner.lock_status();
        let now = Instant::now();
        let state = if let Some(b) = &st.blocked {
            format!("off: {b}")
        } else {
            match (&st.last_error, st.last_ok) {
                (Some((_, at)), ok) if ok.is_none_or(|ok| ok < *at) => {
                    "degraded: the embeddings endpoint is failing".to_string()
                }
                _ => "on".to_string(),
            }
        };
        let mut v = serde_json::json!({
            "state": state,
            "model": self.inner.settings.embed.model,
            "dimension": dim,
            "vectors": vectors,
            "waiting": waiting,
        });
        if dropped > 0 {
            v["not_queued"] = dropped.into();
        }
        if let Some((e, at)) = &st.last_error {
            v["last_error"] = e.clone().into();
            v["last_error_seconds_ago"] = now.duration_since(*at).as_secs().into();
        }
        v
    }

    /// Notes waiting for a vector (tests and `reindex` wait for 0).
    pub fn waiting(&self) -> usize {
        self.inner.lock_queue().wanted.len()
    }

    /// Why meaning is off until a reindex, if it is.
    pub fn blocked(&self) -> Option<String> {
        self.inner.lock_status().blocked.clone()
    }
}

impl Drop for Meaning {
    fn drop(&mut self) {
        self.inner.lock_queue().stop = true;
        self.inner.wake.notify_all();
        // Not joined when busy: a batch in flight may wait for its deadline, and the vectors
        // it would have stored are recomputed at the next start.
        let handle = self
            .worker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(h) = handle {
            if h.is_finished() {
                let _ = h.join();
            }
        }
    }
}

/// What a note is embedded as: its text, then its tags (measured: tags help a little,
/// tests/relevance/README.md "Embedding the tags too").
pub fn embedded_text(text: &str, tags: &[String]) -> String {
    if tags.is_empty() {
        text.to_string()
    } else {
        format!("{text} ({})", tags.join(", "))
    }
}

/// The store at `path` if it holds `model`'s vectors (or none yet); `Err` says why meaning
/// must stay off until a reindex.
fn open_store(path: &Path, model: &str) -> Result<Option<Store>, String> {
    let reindex = |e: StoreError| e.to_string();
    match vectors::peek(path)
        .map_err(|e| format!("{e}; run `brain-mcp reindex` to start the vectors again"))?
    {
        None => Ok(None),
        Some((stored, dim)) if stored == model => {
            Store::open(path, model, dim).map(Some).map_err(reindex)
        }
        Some((stored_model, stored_dim)) => Err(StoreError::ModelChanged {
            stored_model,
            stored_dim,
        }
        .to_string()),
    }
}

impl Inner {
    fn lock_queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_status(&self) -> std::sync::MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn read_store(&self) -> std::sync::RwLockReadGuard<'_, Option<Store>> {
        self.store.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_store(&self) -> std::sync::RwLockWriteGuard<'_, Option<Store>> {
        self.store.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, q: &mut Queue, id: &str, hash: u64, text: String) {
        if !q.wanted.contains_key(id) && q.wanted.len() >= self.settings.queue_max {
            q.dropped += 1;
            return;
        }
        q.wanted.insert(id.to_string(), (hash, text));
        q.order.push_back(id.to_string());
    }

    /// Records a failure; logs it unless one was logged within [`LOG_EVERY`].
    fn failed(&self, why: &str) {
        let mut st = self.lock_status();
        let now = Instant::now();
        st.last_error = Some((why.to_string(), now));
        if st
            .last_logged
            .is_none_or(|t| now.duration_since(t) >= LOG_EVERY)
        {
            st.last_logged = Some(now);
            crate::log::line(&format!(
                "meaning: {why}; searches answer from words alone meanwhile"
            ));
        }
    }

    fn block(&self, why: String) {
        let line = format!("meaning: off until a reindex: {why}");
        self.lock_status().blocked = Some(why);
        crate::log::line(&line);
    }

    /// The indexer: takes batches off the queue, embeds them, stores the vectors.
    fn run(&self) {
        let mut backoff = Duration::from_secs(1);
        loop {
            let (batch, generation): (Vec<(String, u64, String)>, u64) = {
                let mut q = self.lock_queue();
                loop {
                    if q.stop {
                        return;
                    }
                    let blocked = self.lock_status().blocked.is_some();
                    if !blocked && !q.wanted.is_empty() {
                        break;
                    }
                    if q.wanted.is_empty() {
                        q.order.clear();
                    }
                    q = self.wake.wait(q).unwrap_or_else(PoisonError::into_inner);
                }
                let mut batch = Vec::new();
                let mut seen = std::collections::HashSet::new();
                while batch.len() < self.settings.embed.batch.max(1) {
                    let Some(id) = q.order.pop_front() else { break };
                    if let Some((hash, text)) = q.wanted.get(&id) {
                        if seen.insert(id.clone()) {
                            batch.push((id.clone(), *hash, text.clone()));
                        }
                    }
                }
                if batch.is_empty() {
                    q.order.clear();
                    // `wanted` holds ids whose order entries were consumed: queue them again.
                    let ids: Vec<String> = q.wanted.keys().cloned().collect();
                    q.order.extend(ids);
                    continue;
                }
                (batch, q.generation)
            };
            let dim = self.read_store().as_ref().map(Store::dim);
            let texts: Vec<&str> = batch.iter().map(|(_, _, t)| t.as_str()).collect();
            let deadline = self.settings.batch_deadline;
            let send = |r: &embed::Request| (self.send)(r, deadline);
            match embed::embed(&self.settings.embed, &send, Purpose::Document, &texts, dim) {
                // A reindex started while the batch was out: its answer belongs to the old store.
                _ if self.lock_queue().generation != generation => {}
                Ok(e) => {
                    backoff = Duration::from_secs(1);
                    self.store_batch(&batch, &e.vectors);
                    let mut st = self.lock_status();
                    st.last_ok = Some(Instant::now());
                    st.retrying = false;
                }
                Err(EmbedError::WrongDimension { expected, got }) => {
                    self.requeue(&batch);
                    self.block(EmbedError::WrongDimension { expected, got }.to_string());
                }
                Err(e) if e.retryable() => {
                    self.requeue(&batch);
                    self.failed(&e.to_string());
                    let wait = match e {
                        // RFC 9110 section 10.2.3: the server says how long to wait.
                        EmbedError::RateLimited {
                            retry_after: Some(s),
                        } => Duration::from_secs(s.min(3600)),
                        _ => backoff,
                    };
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    self.lock_status().retrying = true;
                    let until = Instant::now() + wait;
                    let mut q = self.lock_queue();
                    while !q.stop {
                        let now = Instant::now();
                        if now >= until {
                            break;
                        }
                        q = self
                            .wake
                            .wait_timeout(q, until - now)
                            .map(|(g, _)| g)
                            .unwrap_or_else(|p| p.into_inner().0);
                    }
                }
                Err(e) => {
                    // Refused (400, 413 ...) or answered badly: the same batch would fail
                    // again. Those notes stay without a vector until the next start or
                    // reindex; a search still finds them by words.
                    self.failed(&e.to_string());
                    let mut q = self.lock_queue();
                    for (id, hash, _) in &batch {
                        if q.wanted.get(id).is_some_and(|w| w.0 == *hash) {
                            q.wanted.remove(id);
                        }
                    }
                }
            }
        }
    }

    fn requeue(&self, batch: &[(String, u64, String)]) {
        let mut q = self.lock_queue();
        for (id, _, _) in batch.iter().rev() {
            q.order.push_front(id.clone());
        }
    }

    /// Stores the vectors of the notes still wanted with the text they were computed from.
    fn store_batch(&self, batch: &[(String, u64, String)], vecs: &[Vec<f32>]) {
        let mut q = self.lock_queue();
        let mut st = self.write_store();
        if st.is_none() {
            let Some(dim) = vecs.first().map(Vec::len) else {
                return;
            };
            match Store::open(&self.path, &self.settings.embed.model, dim) {
                Ok(s) => *st = Some(s),
                Err(e) => {
                    drop(st);
                    drop(q);
                    self.block(e.to_string());
                    return;
                }
            }
        }
        let Some(store) = st.as_mut() else { return };
        for ((id, hash, _), v) in batch.iter().zip(vecs) {
            // Forgotten or changed again while this batch was out: not stored.
            if q.wanted.get(id).is_none_or(|w| w.0 != *hash) {
                continue;
            }
            match store.put(id, *hash, v) {
                Ok(()) => {
                    q.wanted.remove(id);
                }
                Err(e) => {
                    crate::log::line(&format!("meaning: cannot store a vector: {e}"));
                    q.wanted.remove(id);
                }
            }
        }
        if let Err(e) = store.sync() {
            crate::log::line(&format!("meaning: cannot sync the vectors: {e}"));
        }
    }
}

/// A candidate of the fused ranking: (row, words score, cosine if it has a vector).
type Cand = (u32, f64, Option<f32>);

/// z-score convex fusion (`vectors::fuse`'s rule) over the notes the filter accepts that have
/// a vector or a word hit; a note without a vector gets the mean cosine (z-score 0). The page
/// is selected, not the whole list sorted.
fn fused(
    s: &State,
    store: &Store,
    query: &str,
    qv: &[f32],
    accept: &dyn Fn(u32) -> bool,
    want: usize,
) -> Vec<(f64, u32, Found)> {
    let cos = store.cosines(qv);
    let mut cands: Vec<Cand> = Vec::with_capacity(cos.len());
    // Row → candidate index (a dense array: rows are 0..rows.len()).
    let mut at: Vec<u32> = vec![u32::MAX; s.rows.len()];
    for (slot, &c) in cos.iter().enumerate() {
        if let Some(row) = s.row_of(store.id(slot)) {
            if accept(row) {
                if let Some(a) = at.get_mut(row as usize) {
                    *a = cands.len() as u32;
                }
                cands.push((row, 0.0, Some(c)));
            }
        }
    }
    let words = super::rank(s, query, accept, s.live.max(1));
    for &(score, row) in &words {
        match at.get(row as usize).copied().filter(|&i| i != u32::MAX) {
            Some(i) => cands[i as usize].1 = score,
            None => cands.push((row, score, None)),
        }
    }
    if cands.is_empty() {
        return Vec::new();
    }
    let n = cands.len() as f64;
    let with: Vec<f64> = cands.iter().filter_map(|c| c.2).map(f64::from).collect();
    let cmean = if with.is_empty() {
        0.0
    } else {
        with.iter().sum::<f64>() / with.len() as f64
    };
    let c = |x: &Cand| x.2.map_or(cmean, f64::from);
    let wmean = cands.iter().map(|x| x.1).sum::<f64>() / n;
    let cm = cands.iter().map(&c).sum::<f64>() / n;
    let sd = |f: &dyn Fn(&Cand) -> f64, m: f64| {
        let v = (cands.iter().map(|x| (f(x) - m).powi(2)).sum::<f64>() / n).sqrt();
        if v > 0.0 && v.is_finite() {
            v
        } else {
            f64::INFINITY
        }
    };
    let wsd = sd(&|x| x.1, wmean);
    let csd = sd(&c, cm);
    // A cosine among the page's worth of best cosines means meaning alone would show it.
    let mut top_cos: Vec<f64> = cands.iter().map(&c).collect();
    let k = want.min(top_cos.len()).max(1) - 1;
    top_cos.select_nth_unstable_by(k, |a, b| b.total_cmp(a));
    let cos_bar = top_cos[k];
    // A note the words did not find is shown only when the fusion puts it above the average
    // note (score > 0): otherwise every query would list every note.
    let mut out: Vec<(f64, u32, Found)> = cands
        .iter()
        .filter_map(|x| {
            let zc = (c(x) - cm) / csd;
            let z = ALPHA * (x.1 - wmean) / wsd + (1.0 - ALPHA) * zc;
            if x.1 <= 0.0 && z <= 0.0 && csd.is_finite() {
                return None;
            }
            let by_meaning = x.2.is_some() && zc > 0.0 && c(x) >= cos_bar;
            let found = match (x.1 > 0.0, by_meaning) {
                (true, true) => Found::Both,
                (true, false) => Found::Words,
                _ => Found::Meaning,
            };
            Some((z, x.0, found))
        })
        .collect();
    let order =
        |a: &(f64, u32, Found), b: &(f64, u32, Found)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    if out.len() > want && want > 0 {
        out.select_nth_unstable_by(want - 1, order);
        out.truncate(want);
    }
    out.sort_by(order);
    out
}

/// The transport over the server's one outbound client (src/net): the URL is the operator's
/// (`Target::Configured`), no redirects, a body cap well above a batch's answer (32 vectors
/// of 1,536 numbers are about 1 MB of JSON).
pub fn transport(client: crate::net::Client) -> Transport {
    use crate::net::{FetchError, Policy, Request, Target};
    Arc::new(move |r: &embed::Request, total: Duration| {
        let mut req = Request::post(&r.url, "application/json", r.body.clone());
        for (k, v) in &r.headers {
            if !k.eq_ignore_ascii_case("content-type") {
                req = req.header(k, v);
            }
        }
        let policy = Policy {
            target: Target::Configured,
            connect: total.min(Duration::from_secs(5)),
            total,
            max_body: 16 << 20,
            max_redirects: 0,
        };
        match client.fetch(req, &policy) {
            Ok(resp) => Ok(embed::Response {
                status: resp.status,
                retry_after: resp
                    .header("retry-after")
                    .and_then(|v| v.trim().parse().ok()),
                body: resp.body,
            }),
            Err(FetchError::Timeout(_)) => Err(TransportError::Timeout),
            Err(e) => Err(TransportError::Failed(e.to_string())),
        }
    })
}
