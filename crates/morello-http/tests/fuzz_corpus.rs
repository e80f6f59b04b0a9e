//! Replays the committed fuzz corpus (fuzz/corpus/<target>/seed-* and regress-*) through the
//! fuzz targets' bodies (`common::targets`), on stable Rust and without any fuzzing tool, so
//! that every input the fuzzer ever crashed on stays a failing test if the bug comes back.
#![allow(clippy::panic)]

mod common;

use std::path::Path;

use common::targets::by_name;

#[test]
fn committed_fuzz_corpus_replays() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let mut replayed = 0;
    for name in ["requests", "chunked", "differential"] {
        let target = by_name(name).unwrap_or_else(|| unreachable!());
        let dir = root.join(name);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| {
                path.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("seed-") || n.starts_with("regress-"))
            })
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no seeds in {}", dir.display());
        for path in files {
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(outcome.is_ok(), "{name} fails on {}", path.display());
            replayed += 1;
        }
    }
    assert!(replayed >= 36, "only {replayed} corpus files");
}
