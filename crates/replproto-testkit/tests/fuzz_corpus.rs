//! Every input the fuzzers kept (`fuzz/corpus/<target>`, crashes they found included) runs
//! again here through the same bodies as the fuzz targets, so `cargo test` replays them too
//! (`scripts/fuzz-replay` replays them through the instrumented binaries).

use std::fs;
use std::path::PathBuf;

use replproto_testkit::fuzzing;

fn replay(target: &str, body: fn(&[u8])) -> usize {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut inputs: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no seeds in {}", dir.display());
    for input in &inputs {
        let data = fs::read(input).expect("corpus file");
        let name = input.file_name().map(|n| n.to_string_lossy().into_owned());
        let result = std::panic::catch_unwind(|| body(&data));
        assert!(result.is_ok(), "{target}: input {name:?} fails");
    }
    inputs.len()
}

#[test]
fn pair_corpus() {
    replay("pair", fuzzing::pair);
}

#[test]
fn master_input_corpus() {
    replay("master_input", fuzzing::master_input);
}

#[test]
fn chunking_corpus() {
    replay("chunking", fuzzing::chunking);
}
