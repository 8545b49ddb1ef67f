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
