//! The request-head parser: never panics; a complete head lies within the buffer and the cap.
#![no_main]

use brain_mcp::http::parse::parse_head;
use brain_mcp::http::server::Limits;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(Some(head)) = parse_head(data, &limits) {
        assert!(head.head_len <= data.len(), "head_len beyond the buffer");
        assert!(head.head_len <= limits.max_head, "head_len beyond max_head");
        assert!(
            head.path.starts_with('/'),
            "path not in origin form: {:?}",
            head.path
        );
    }
    // A small cap exercises the HeadTooLarge paths on short inputs too.
    let small = Limits {
        max_head: 64,
        max_headers: 4,
        ..Limits::default()
    };
    if let Ok(Some(head)) = parse_head(data, &small) {
        assert!(head.head_len <= data.len());
        assert!(head.head_len <= small.max_head);
    }
});
