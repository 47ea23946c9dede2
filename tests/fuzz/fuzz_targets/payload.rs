#![no_main]
//! Any body bytes: a payload, invalid JSON or an invalid payload, never a panic or a hang.
use hookbox::ingest::payload::CallbackPayload;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = CallbackPayload::parse(data);
});
