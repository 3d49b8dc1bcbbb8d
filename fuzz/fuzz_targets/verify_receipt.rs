//! Any bytes as a receipt: verification reports problems and never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let dir = std::env::temp_dir().join("attest-fuzz-workspace");
    let keys = attest_receipt::KeyStore::new(&dir.join(".attest"));
    let _ = attest_receipt::verify(&text, &dir, &keys, attest_receipt::VerifyOptions::default());
    let _ = attest_receipt::read_run_statement(&text);
});
