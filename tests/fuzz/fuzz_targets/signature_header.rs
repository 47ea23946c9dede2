#![no_main]
//! Any header bytes: parsed or refused as malformed, never a panic; a parsed one verifies
//! against any body without panicking.
use hookbox::ingest::secrets::SecretSet;
use hookbox::ingest::signature::PresentedSignature;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(presented) = PresentedSignature::parse(Some(data)) {
        if let Ok(secrets) = SecretSet::parse_list("k:fuzz-secret-value", "fuzz") {
            let _ = presented.verify(data, &secrets);
        }
    }
});
