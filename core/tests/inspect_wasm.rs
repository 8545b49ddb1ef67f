//! The inspector's table on real images, compiled to wasm: the same verdicts the server reaches
//! natively, computed as the browser will compute them. `cargo glint test` makes the images with
//! `qemu-img`, `genisoimage` and `parted` and points `GLINT_INSPECT_FIXTURES` at them.
#![cfg(target_arch = "wasm32")]

use glint_core::inspect::{Format, Inspector, Rule, check};
use wasm_bindgen_test::wasm_bindgen_test as test;

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!(env!("GLINT_INSPECT_FIXTURES"), "/", $name)).as_slice()
    };
}

#[test]
fn real_images_in_wasm() {
    let cases: [(&str, &[u8], Format, Option<Rule>); 14] = [
        ("plain.raw", fixture!("plain.raw"), Format::Raw, None),
        ("v3.qcow2", fixture!("v3.qcow2"), Format::Qcow2, None),
        ("v2.qcow2", fixture!("v2.qcow2"), Format::Qcow2, None),
        (
            "child.qcow2",
            fixture!("child.qcow2"),
            Format::Qcow2,
            Some(Rule::BackingFile),
        ),
        (
            "datafile.qcow2",
            fixture!("datafile.qcow2"),
            Format::Qcow2,
            Some(Rule::ExternalDataFile),
        ),
        ("sparse.vmdk", fixture!("sparse.vmdk"), Format::Vmdk, None),
        ("stream.vmdk", fixture!("stream.vmdk"), Format::Vmdk, None),
        (
            "flat.vmdk",
            fixture!("flat.vmdk"),
            Format::Vmdk,
            Some(Rule::ExternalExtent),
        ),
        (
            "disk.qed",
            fixture!("disk.qed"),
            Format::Qed,
            Some(Rule::UnsafeFormat),
        ),
        ("dynamic.vhd", fixture!("dynamic.vhd"), Format::Vhd, None),
        ("disk.vhdx", fixture!("disk.vhdx"), Format::Vhdx, None),
        ("disk.vdi", fixture!("disk.vdi"), Format::Vdi, None),
        ("cd.iso", fixture!("cd.iso"), Format::Iso, None),
        ("gpt.raw", fixture!("gpt.raw"), Format::Gpt, None),
    ];
    for (name, bytes, format, rule) in cases {
        // Fed in uneven pieces, as a browser reads a file slice by slice.
        let mut i = Inspector::new();
        for piece in bytes.chunks(7_777) {
            i.feed(piece);
        }
        let verdict = i.finish();
        assert_eq!(
            verdict,
            Inspector::inspect(bytes),
            "{name}: chunking changes nothing"
        );
        assert_eq!(verdict.format, format, "{name}");
        assert_eq!(
            verdict.findings.first().map(|f| f.rule),
            rule,
            "{name}: {:?}",
            verdict.findings
        );
        assert_eq!(
            check(&verdict, format.as_str(), true).is_ok(),
            rule.is_none(),
            "{name}"
        );
    }
    let v3 = Inspector::inspect(fixture!("v3.qcow2"));
    assert_eq!(v3.virtual_size, Some(1 << 20));
    assert!(check(&v3, "raw", true).is_err(), "a qcow2 is not raw");
}

/// A qcow2 header extension whose length is near `u32::MAX`: rounded up to 8 in a 32-bit
/// `usize` it would overflow (a panic in a debug build, a wrapped offset in release). It is a
/// malformed image, in wasm as natively.
#[test]
fn a_huge_qcow2_extension_length_is_malformed() {
    let mut bytes = fixture!("v3.qcow2").to_vec();
    bytes[112..116].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    bytes[116..120].copy_from_slice(&u32::MAX.to_be_bytes());
    let v = Inspector::inspect(&bytes);
    assert_eq!(v.format, Format::Qcow2);
    assert!(
        v.findings.iter().any(|f| f.rule == Rule::Malformed),
        "{:?}",
        v.findings
    );
}

/// The inspector never panics and reaches the same verdict however the data is fed, on
/// mutated copies of every real image, in wasm (the property tests' mutated headers; proptest
/// itself needs an OS RNG, so the cases come from a fixed xorshift sequence).
#[test]
fn mutated_headers_in_wasm() {
    let seeds: [&[u8]; 11] = [
        fixture!("v3.qcow2"),
        fixture!("v2.qcow2"),
        fixture!("child.qcow2"),
        fixture!("datafile.qcow2"),
        fixture!("sparse.vmdk"),
        fixture!("stream.vmdk"),
        fixture!("flat.vmdk"),
        fixture!("dynamic.vhd"),
        fixture!("disk.vhdx"),
        fixture!("disk.vdi"),
        fixture!("gpt.raw"),
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..600 {
        let seed = seeds[(next() % seeds.len() as u64) as usize];
        let mut bytes = seed[..seed.len().min(600_000)].to_vec();
        for _ in 0..(1 + next() % 16) {
            let at = (next() % 4096) as usize;
            let value = match next() % 3 {
                0 => 0xff,
                1 => 0,
                _ => next() as u8,
            };
            if let Some(b) = bytes.get_mut(at) {
                *b = value;
            }
        }
        if next() % 2 == 0 {
            bytes.truncate((next() % 600_000) as usize);
        }
        let chunk = 1 + (next() % 70_000) as usize;
        let whole = Inspector::inspect(&bytes);
        let mut i = Inspector::new();
        for c in bytes.chunks(chunk) {
            i.feed(c);
        }
        assert_eq!(i.finish(), whole, "chunks of {chunk}");
    }
}
