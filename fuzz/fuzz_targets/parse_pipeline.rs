//! Any bytes given to the pipeline parser produce a pipeline or errors, never a panic,
//! and rendering those errors never panics either.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(source) = std::str::from_utf8(data) {
        if let Err(errors) = attest_pipeline::Pipeline::parse("attest.yaml", source) {
            let _ = errors.render(source);
        }
    }
});
