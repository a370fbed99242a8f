//! The protocol decoder and the change-chunk checker: any bytes, no panic; what decodes
//! re-encodes to something that decodes to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = sync::codec::decode(data) {
        let again = sync::codec::decode(&sync::codec::encode(&msg)).expect("canonical output decodes");
        assert_eq!(again, msg);
    }
    let _ = sync::chunks::verify([data]);
});
