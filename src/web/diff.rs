//! What changed between two versions of a note, word by word: Myers' O((N+M)·D) difference
//! algorithm ("An O(ND) Difference Algorithm and Its Variations", 1986) over words and the
//! whitespace between them, after the common beginning and end are set aside.
//!
//! Notes are short prose, so a word diff says more than a line diff (a one-paragraph note is
//! one line). The work is bounded: beyond [`MAX_EDITS`] differing words the versions are shown
//! as "all of this went, all of that came", which costs nothing to compute.

use super::html::esc;

/// The most edits (words inserted plus words deleted) searched for. Memory is about
/// `MAX_EDITS²` integers (3 MB at 600), time `(N + M) · MAX_EDITS`.
pub const MAX_EDITS: usize = 600;

#[derive(Debug, Clone, PartialEq)]
pub enum Op<'a> {
    Same(&'a str),
    Gone(&'a str),
    Came(&'a str),
}

/// Words and the whitespace runs between them, in order; joined they are the text again.
fn tokens(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_space: Option<bool> = None;
    for (i, c) in s.char_indices() {
        let space = c.is_whitespace();
        if in_space.is_some_and(|w| w != space) {
            out.push(&s[start..i]);
            start = i;
        }
        in_space = Some(space);
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

/// The edit script from `old` to `new`, one operation per word or whitespace run.
pub fn diff<'a>(old: &'a str, new: &'a str) -> Vec<Op<'a>> {
    let a = tokens(old);
    let b = tokens(new);
    let pre = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suf = a[pre..]
        .iter()
        .rev()
        .zip(b[pre..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (am, bm) = (&a[pre..a.len() - suf], &b[pre..b.len() - suf]);
    let mut ops: Vec<Op> = a[..pre].iter().map(|t| Op::Same(t)).collect();
    match myers(am, bm) {
        Some(mid) => ops.extend(mid),
        None => {
            ops.extend(am.iter().map(|t| Op::Gone(t)));
            ops.extend(bm.iter().map(|t| Op::Came(t)));
        }
    }
    ops.extend(a[a.len() - suf..].iter().map(|t| Op::Same(t)));
    ops
}

/// Myers' greedy forward search, keeping each round's furthest-reaching paths (only the
/// diagonals that round can reach: about `D²` integers in all), then the path walked back.
/// `None` when more than [`MAX_EDITS`] edits are needed.
fn myers<'a>(a: &[&'a str], b: &[&'a str]) -> Option<Vec<Op<'a>>> {
    let (n, m) = (a.len() as i64, b.len() as i64);
    if n == 0 || m == 0 {
        let mut out: Vec<Op> = a.iter().map(|t| Op::Gone(t)).collect();
        out.extend(b.iter().map(|t| Op::Came(t)));
        return Some(out);
    }
    let max = (n + m).min(MAX_EDITS as i64);
    let off = max + 1;
    // v[off + k]: the furthest x reached on diagonal k (x - y = k).
    let mut v = vec![0i64; (2 * max + 3) as usize];
    // trace[d]: v[off-d-1 ..= off+d+1] as round d found it (before its own moves).
    let mut trace: Vec<Vec<i64>> = Vec::new();
    let at = |v: &[i64], k: i64| v[(off + k) as usize];
    let mut done = None;
    'search: for d in 0..=max {
        trace.push(v[(off - d - 1) as usize..=(off + d + 1) as usize].to_vec());
        let mut k = -d;
        while k <= d {
            let down = k == -d || (k != d && at(&v, k - 1) < at(&v, k + 1));
            let mut x = if down {
                at(&v, k + 1)
            } else {
                at(&v, k - 1) + 1
            };
            let mut y = x - k;
            while x < n && y < m && a[x as usize] == b[y as usize] {
                x += 1;
                y += 1;
            }
            v[(off + k) as usize] = x;
            if x >= n && y >= m {
                done = Some(d);
                break 'search;
            }
            k += 2;
        }
    }
    let d_end = done?;
    let mut out = Vec::new();
    let (mut x, mut y) = (n, m);
    for d in (1..=d_end).rev() {
        let w = &trace[d as usize];
        // The window starts at diagonal -d-1.
        let get = |k: i64| w[(k + d + 1) as usize];
        let k = x - y;
        let down = k == -d || (k != d && get(k - 1) < get(k + 1));
        let prev_k = if down { k + 1 } else { k - 1 };
        let prev_x = get(prev_k);
        let prev_y = prev_x - prev_k;
        while x > prev_x && y > prev_y {
            x -= 1;
            y -= 1;
            out.push(Op::Same(a[x as usize]));
        }
        if down {
            y -= 1;
            out.push(Op::Came(b[y as usize]));
        } else {
            x -= 1;
            out.push(Op::Gone(a[x as usize]));
        }
    }
    while x > 0 && y > 0 {
        x -= 1;
        y -= 1;
        out.push(Op::Same(a[x as usize]));
    }
    out.reverse();
    Some(out)
}

/// The script as HTML: unchanged text as it is, each run of deletions in one `<del>` and of
/// insertions in one `<ins>`, all of it escaped.
pub fn render(ops: &[Op]) -> String {
    let mut out = String::new();
    let mut open: Option<&str> = None;
    for op in ops {
        let (tag, text) = match op {
            Op::Same(t) => (None, t),
            Op::Gone(t) => (Some("del"), t),
            Op::Came(t) => (Some("ins"), t),
        };
        if open != tag {
            if let Some(o) = open {
                out.push_str(&format!("</{o}>"));
            }
            if let Some(t) = tag {
                out.push_str(&format!("<{t}>"));
            }
            open = tag;
        }
        out.push_str(&esc(text));
    }
    if let Some(o) = open {
        out.push_str(&format!("</{o}>"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(ops: &[Op]) -> (String, String) {
        let (mut old, mut new) = (String::new(), String::new());
        for op in ops {
            match op {
                Op::Same(t) => {
                    old.push_str(t);
                    new.push_str(t);
                }
                Op::Gone(t) => old.push_str(t),
                Op::Came(t) => new.push_str(t),
            }
        }
        (old, new)
    }

    #[test]
    fn one_word_changed() {
        let ops = diff("Buy oat milk today", "Buy soy milk today");
        assert_eq!(render(&ops), "Buy <del>oat</del><ins>soy</ins> milk today");
    }

    #[test]
    fn scripts_rebuild_both_texts() {
        let cases = [
            ("", "new text"),
            ("old text", ""),
            ("a b c d e f", "a x c d y f z"),
            ("the quick brown fox", "a quick red fox jumps"),
            ("line one\nline two\n", "line one\nline 2\nline three\n"),
            ("héllo wörld", "héllo world ünïcode"),
        ];
        for (a, b) in cases {
            let ops = diff(a, b);
            assert_eq!(
                apply(&ops),
                (a.to_string(), b.to_string()),
                "{a:?} -> {b:?}"
            );
        }
    }

    #[test]
    fn too_different_falls_back_whole_and_stays_correct() {
        let a: String = (0..3000).map(|i| format!("a{i} ")).collect();
        let b: String = (0..3000).map(|i| format!("b{i} ")).collect();
        let ops = diff(&a, &b);
        assert_eq!(apply(&ops), (a.clone(), b.clone()));
        // All of one, then all of the other.
        let html = render(&ops);
        assert_eq!(html.matches("<del>").count(), 1);
        assert_eq!(html.matches("<ins>").count(), 1);
    }

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            render(&diff("<b>x</b>", "<i>x</i>")),
            "<del>&lt;b&gt;x&lt;/b&gt;</del><ins>&lt;i&gt;x&lt;/i&gt;</ins>"
        );
    }
}
