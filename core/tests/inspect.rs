//! The inspector on real images made by `qemu-img`, `genisoimage` and `parted` at test time
//! (native only: the wasm build cannot run tools).
#![cfg(not(target_arch = "wasm32"))]

use std::path::{Path, PathBuf};
use std::process::Command;

use glint_core::inspect::{Format, Inspector, Rule, Verdict, check};

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn dir(tag: &str) -> Dir {
    let d = std::env::temp_dir().join(format!("glint-inspect-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    Dir(d)
}

fn run(program: &str, args: &[&str], cwd: &Path) {
    let out = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|e| panic!("{program} is needed for this test: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn qemu_img(args: &[&str], cwd: &Path) {
    run("qemu-img", args, cwd);
}

/// Inspects a file whole and in uneven chunks; both must agree.
fn inspect(path: &Path) -> Verdict {
    let bytes = std::fs::read(path).expect("read image");
    let whole = Inspector::inspect(&bytes);
    for size in [1, 777, 4096, 65_537] {
        if size == 1 && bytes.len() > 300_000 {
            continue;
        }
        let mut i = Inspector::new();
        for c in bytes.chunks(size) {
            i.feed(c);
        }
        assert_eq!(
            i.finish(),
            whole,
            "chunks of {size} disagree for {}",
            path.display()
        );
    }
    // Reading only what the inspector asks for (as the browser does) gives the same verdict.
    let mut sparse = Inspector::new();
    let mut reads = 0;
    while let Some((at, len)) = sparse.next_read(bytes.len() as u64) {
        let (at, len) = (at as usize, len as usize);
        sparse.skip_to(at as u64);
        sparse.feed(&bytes[at..at + len]);
        reads += 1;
        assert!(
            reads < 100,
            "next_read makes progress for {}",
            path.display()
        );
    }
    assert_eq!(
        sparse.finish(),
        whole,
        "sparse reading disagrees for {}",
        path.display()
    );
    whole
}

/// `gpt.raw` in `dir`: 4 MiB with a GPT and one partition, made by parted.
fn gpt_image(dir: &Path) {
    std::fs::write(dir.join("gpt.raw"), vec![0; 4 * MIB as usize]).expect("write");
    let parted = if Path::new("/usr/sbin/parted").exists() {
        "/usr/sbin/parted"
    } else {
        "parted"
    };
    run(
        parted,
        &[
            "-s", "gpt.raw", "mklabel", "gpt", "mkpart", "p1", "1MiB", "3MiB",
        ],
        dir,
    );
}

fn rules(v: &Verdict) -> Vec<Rule> {
    v.findings.iter().map(|f| f.rule).collect()
}

const MIB: u64 = 1 << 20;

#[test]
fn safe_images_are_recognised_and_sized() {
    let d = dir("safe");
    let p = &d.0;
    std::fs::write(p.join("plain.raw"), vec![0x5a; 3 * MIB as usize + 512]).expect("write");
    qemu_img(&["create", "-f", "qcow2", "v3.qcow2", "10M"], p);
    qemu_img(
        &[
            "create",
            "-f",
            "qcow2",
            "-o",
            "compat=0.10",
            "v2.qcow2",
            "20M",
        ],
        p,
    );
    qemu_img(&["create", "-f", "vmdk", "sparse.vmdk", "30M"], p);
    qemu_img(
        &[
            "create",
            "-f",
            "vmdk",
            "-o",
            "subformat=streamOptimized",
            "stream.vmdk",
            "40M",
        ],
        p,
    );
    qemu_img(
        &[
            "convert",
            "-O",
            "vmdk",
            "-o",
            "subformat=streamOptimized",
            "plain.raw",
            "stream-data.vmdk",
        ],
        p,
    );
    qemu_img(&["create", "-f", "vpc", "dynamic.vhd", "50M"], p);
    qemu_img(
        &[
            "create",
            "-f",
            "vpc",
            "-o",
            "subformat=fixed",
            "fixed.vhd",
            "8M",
        ],
        p,
    );
    qemu_img(&["create", "-f", "vhdx", "disk.vhdx", "60M"], p);
    qemu_img(&["create", "-f", "vdi", "disk.vdi", "70M"], p);
    qemu_img(
        &[
            "create",
            "-f",
            "luks",
            "--object",
            "secret,id=s0,data=pass",
            "-o",
            "key-secret=s0",
            "disk.luks",
            "4M",
        ],
        p,
    );
    let cases: [(&str, Format, Option<u64>); 11] = [
        ("plain.raw", Format::Raw, Some(3 * MIB + 512)),
        ("v3.qcow2", Format::Qcow2, Some(10 * MIB)),
        ("v2.qcow2", Format::Qcow2, Some(20 * MIB)),
        ("sparse.vmdk", Format::Vmdk, Some(30 * MIB)),
        ("stream.vmdk", Format::Vmdk, Some(40 * MIB)),
        ("stream-data.vmdk", Format::Vmdk, Some(3 * MIB + 512)),
        ("dynamic.vhd", Format::Vhd, None),
        ("fixed.vhd", Format::Vhd, None),
        ("disk.vhdx", Format::Vhdx, Some(60 * MIB)),
        ("disk.vdi", Format::Vdi, Some(70 * MIB)),
        ("disk.luks", Format::Luks, None),
    ];
    for (name, format, size) in cases {
        let v = inspect(&p.join(name));
        assert_eq!(v.format, format, "{name}");
        assert!(v.is_safe(), "{name}: {:?}", v.findings);
        if let Some(size) = size {
            assert_eq!(v.virtual_size, Some(size), "{name}");
        }
        assert!(
            check(&v, format.as_str(), true).is_ok(),
            "{name} passes as {format}"
        );
    }
    // VHD sizes are rounded to the disk geometry: close to, and at least, what was asked for.
    for (name, asked) in [("dynamic.vhd", 50 * MIB), ("fixed.vhd", 8 * MIB)] {
        let v = inspect(&p.join(name)).virtual_size.expect("a VHD size");
        assert!(v >= asked && v < asked + MIB, "{name}: {v}");
    }
}

#[test]
fn iso_gpt_and_mbr() {
    let d = dir("iso");
    let p = &d.0;
    std::fs::create_dir_all(p.join("content")).expect("dir");
    std::fs::write(p.join("content").join("hello.txt"), "hello").expect("write");
    run(
        "genisoimage",
        &["-quiet", "-o", "cd.iso", "-V", "GLINT", "content"],
        p,
    );
    let v = inspect(&p.join("cd.iso"));
    assert_eq!(v.format, Format::Iso);
    assert!(v.is_safe());
    assert_eq!(
        v.virtual_size,
        Some(v.size),
        "an ISO's blocks cover the file"
    );

    gpt_image(p);
    let v = inspect(&p.join("gpt.raw"));
    assert_eq!(v.format, Format::Gpt);
    assert_eq!(v.virtual_size, Some(4 * MIB));
    assert!(check(&v, "gpt", true).is_ok());
    assert!(
        check(&v, "raw", true).is_ok(),
        "a GPT disk is a raw disk too"
    );

    std::fs::write(p.join("mbr.raw"), vec![0; 4 * MIB as usize]).expect("write");
    run(
        "parted",
        &[
            "-s", "mbr.raw", "mklabel", "msdos", "mkpart", "primary", "1MiB", "3MiB",
        ],
        p,
    );
    let v = inspect(&p.join("mbr.raw"));
    assert_eq!(v.format, Format::Raw, "an MBR disk is raw");
    assert!(v.is_safe());
}

#[test]
fn unsafe_images_are_refused_with_the_reason() {
    let d = dir("unsafe");
    let p = &d.0;
    qemu_img(&["create", "-f", "raw", "base.raw", "1M"], p);
    qemu_img(
        &[
            "create",
            "-f",
            "qcow2",
            "-b",
            "base.raw",
            "-F",
            "raw",
            "child.qcow2",
        ],
        p,
    );
    qemu_img(
        &[
            "create",
            "-f",
            "qcow2",
            "-o",
            "data_file=external.raw",
            "datafile.qcow2",
            "1M",
        ],
        p,
    );
    qemu_img(
        &[
            "create",
            "-f",
            "vmdk",
            "-o",
            "subformat=monolithicFlat",
            "flat.vmdk",
            "1M",
        ],
        p,
    );
    qemu_img(
        &[
            "create",
            "-f",
            "vmdk",
            "-o",
            "subformat=twoGbMaxExtentSparse",
            "split.vmdk",
            "1M",
        ],
        p,
    );
    qemu_img(&["create", "-f", "qed", "disk.qed", "1M"], p);
    let cases: [(&str, Format, Rule); 5] = [
        ("child.qcow2", Format::Qcow2, Rule::BackingFile),
        ("datafile.qcow2", Format::Qcow2, Rule::ExternalDataFile),
        ("flat.vmdk", Format::Vmdk, Rule::ExternalExtent),
        ("split.vmdk", Format::Vmdk, Rule::ExternalExtent),
        ("disk.qed", Format::Qed, Rule::UnsafeFormat),
    ];
    for (name, format, rule) in cases {
        let v = inspect(&p.join(name));
        assert_eq!(v.format, format, "{name}");
        assert!(rules(&v).contains(&rule), "{name}: {:?}", v.findings);
        let refusal = check(&v, format.as_str(), false).expect_err("unsafe even without matching");
        assert_eq!(refusal.rule, Some(rule));
        assert!(
            refusal.message.contains(format.as_str()),
            "{}",
            refusal.message
        );
    }
}

/// A sparse VMDK whose embedded descriptor's extent names another file (CVE-2022-47951's
/// class): a reader of the descriptor would open that file. The same image with its own name
/// passes.
#[test]
fn vmdk_extents_naming_other_files_are_refused() {
    let d = dir("vmdk-extent");
    let p = &d.0;
    qemu_img(&["create", "-f", "vmdk", "sparse.vmdk", "10M"], p);
    let good = std::fs::read(p.join("sparse.vmdk")).expect("read");
    assert!(
        !rules(&Inspector::inspect(&good)).contains(&Rule::ExternalExtent),
        "the image as made"
    );
    let own = b"\"sparse.vmdk\"";
    let at = good
        .windows(own.len())
        .position(|w| w == own)
        .expect("the extent line names the file");
    for other in ["/etc/hosts", "../x.vmdk", "a/b.vmdk", "..", ""] {
        let mut bad = good.clone();
        let named = format!("{:<width$}", format!("\"{other}\""), width = own.len());
        bad[at..at + own.len()].copy_from_slice(named.as_bytes());
        let path = p.join("bad.vmdk");
        std::fs::write(&path, &bad).expect("write");
        let v = inspect(&path);
        assert_eq!(v.format, Format::Vmdk, "{other}");
        assert!(
            rules(&v).contains(&Rule::ExternalExtent),
            "{other}: {:?}",
            v.findings
        );
        let refusal = check(&v, "vmdk", true).expect_err("unsafe");
        assert_eq!(refusal.rule, Some(Rule::ExternalExtent), "{other}");
    }
}

#[test]
fn malformed_and_mixed_content() {
    let d = dir("malformed");
    let p = &d.0;
    qemu_img(&["create", "-f", "qcow2", "good.qcow2", "1M"], p);
    let good = std::fs::read(p.join("good.qcow2")).expect("read");

    // A header extension length near u32::MAX (it overflowed a 32-bit usize once).
    let mut huge = good.clone();
    huge[112..116].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    huge[116..120].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(rules(&Inspector::inspect(&huge)).contains(&Rule::Malformed));

    let truncated = Inspector::inspect(&good[..40]);
    assert_eq!(truncated.format, Format::Qcow2);
    assert!(
        rules(&truncated).contains(&Rule::Malformed),
        "{truncated:?}"
    );

    let mut bad_cluster = good.clone();
    bad_cluster[20..24].copy_from_slice(&40u32.to_be_bytes());
    assert!(rules(&Inspector::inspect(&bad_cluster)).contains(&Rule::Malformed));

    let mut misaligned = good.clone();
    misaligned[40..48].copy_from_slice(&12_345u64.to_be_bytes());
    assert!(rules(&Inspector::inspect(&misaligned)).contains(&Rule::Malformed));

    let mut unknown_feature = good.clone();
    unknown_feature[72..80].copy_from_slice(&(1u64 << 40).to_be_bytes());
    assert!(rules(&Inspector::inspect(&unknown_feature)).contains(&Rule::Malformed));

    // A qcow2 header at the start and an ISO volume descriptor further in.
    let mut mixed = good.clone();
    mixed.resize(40 * 1024, 0);
    mixed[32 * 1024] = 1;
    mixed[32 * 1024 + 1..32 * 1024 + 6].copy_from_slice(b"CD001");
    let v = Inspector::inspect(&mixed);
    assert_eq!(rules(&v)[0], Rule::MultipleFormats, "{v:?}");

    // An empty stream is a raw image of size 0.
    let empty = Inspector::new().finish();
    assert_eq!((empty.format, empty.virtual_size), (Format::Raw, Some(0)));
}

#[test]
fn declared_format_must_match_the_content() {
    let d = dir("match");
    let p = &d.0;
    qemu_img(&["create", "-f", "qcow2", "disk.qcow2", "1M"], p);
    let qcow2 = inspect(&p.join("disk.qcow2"));
    let raw = Inspector::inspect(&[7u8; 4096]);
    // Random bytes declared qcow2, and a qcow2 declared raw: both refused, with Glance's words.
    let e = check(&raw, "qcow2", true).expect_err("mismatch");
    assert_eq!(
        e.message,
        "Image disk_format qcow2 does not match stream data raw"
    );
    assert_eq!(e.rule, None);
    assert!(check(&qcow2, "raw", true).is_err());
    // The setting relaxes the match only.
    assert!(check(&raw, "qcow2", false).is_ok());
    // AMI-style formats are not inspected.
    assert!(check(&raw, "aki", true).is_ok());
}

/// No input makes the inspector panic, and chunking never changes its verdict: arbitrary bytes,
/// and real headers with bytes flipped.
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn seeds() -> Vec<Vec<u8>> {
        let d = dir("fuzz");
        let p = &d.0;
        let mut out = Vec::new();
        for (format, opts) in [
            ("qcow2", ""),
            ("vmdk", ""),
            ("vmdk", "subformat=streamOptimized"),
            ("vpc", ""),
            ("vhdx", ""),
            ("vdi", ""),
            ("qed", ""),
        ] {
            let name = format!("seed-{format}-{}.img", out.len());
            let mut args = vec!["create", "-f", format];
            if !opts.is_empty() {
                args.extend(["-o", opts]);
            }
            args.extend([name.as_str(), "1M"]);
            qemu_img(&args, p);
            let mut bytes = std::fs::read(p.join(&name)).expect("read seed");
            bytes.truncate(512 * 1024);
            out.push(bytes);
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..70_000), chunk in 1usize..5000) {
            let whole = Inspector::inspect(&bytes);
            let mut i = Inspector::new();
            for c in bytes.chunks(chunk) {
                i.feed(c);
            }
            prop_assert_eq!(i.finish(), whole);
        }
    }

    #[test]
    fn mutated_headers() {
        let seeds = seeds();
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(400));
        let strategy = (
            0..seeds.len(),
            proptest::collection::vec((0usize..4096, any::<u8>()), 1..16),
            prop_oneof![Just(usize::MAX), 0usize..600_000],
            1usize..70_000,
        );
        runner
            .run(&strategy, |(seed, flips, cut, chunk)| {
                let mut bytes = seeds[seed].clone();
                for (at, value) in flips {
                    if let Some(b) = bytes.get_mut(at) {
                        *b = value;
                    }
                }
                bytes.truncate(cut);
                let whole = Inspector::inspect(&bytes);
                let mut i = Inspector::new();
                for c in bytes.chunks(chunk) {
                    i.feed(c);
                }
                prop_assert_eq!(i.finish(), whole);
                Ok(())
            })
            .expect("no panic, chunking-independent verdicts");
    }
}

/// Glance 33's inspector rules beyond extents, each on a real image and a copy mutated to break
/// it: a VMDK descriptor line no descriptor has, a descriptor away from sector 1, a
/// stream-optimized footer that disagrees with its header or its markers, and a GPT whose
/// protective MBR is not one.
#[test]
fn glance_33_rules_on_mutated_images() {
    let d = dir("glance-rules");
    let p = &d.0;
    qemu_img(&["create", "-f", "vmdk", "sparse.vmdk", "10M"], p);
    qemu_img(
        &[
            "create",
            "-f",
            "vmdk",
            "-o",
            "subformat=streamOptimized",
            "stream.vmdk",
            "10M",
        ],
        p,
    );
    gpt_image(p);
    let sparse = std::fs::read(p.join("sparse.vmdk")).expect("sparse");
    // A stream-optimized image whose grain directory is given in a footer, as VMware's tools
    // write them (qemu-img puts it in the header): the header says "at the end", then a footer
    // marker, the footer (the header with the directory's place) and the end-of-stream marker.
    let made = std::fs::read(p.join("stream.vmdk")).expect("stream");
    let mut stream = made.clone();
    stream[56..64].copy_from_slice(&u64::MAX.to_le_bytes());
    let mut marker = vec![0u8; 512];
    marker[..8].copy_from_slice(&1u64.to_le_bytes());
    marker[12..16].copy_from_slice(&3u32.to_le_bytes());
    stream.extend_from_slice(&marker);
    stream.extend_from_slice(&made[..512]);
    stream.extend_from_slice(&[0u8; 512]);
    let gpt = std::fs::read(p.join("gpt.raw")).expect("gpt");
    for (name, bytes) in [("sparse", &sparse), ("stream", &stream), ("gpt", &gpt)] {
        assert_eq!(
            Inspector::inspect(bytes).findings,
            Vec::new(),
            "{name} as made is fine"
        );
    }
    let at = |bytes: &[u8], needle: &[u8]| {
        bytes
            .windows(needle.len())
            .position(|w| w == needle)
            .expect("the text is there")
    };
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    // A descriptor line that is neither comment, field, extent nor disk database entry.
    let mut bad = sparse.clone();
    let i = at(&bad, b"# Extent description");
    bad[i..i + 20].copy_from_slice(b"Extent! description ");
    cases.push(("a strange descriptor line", bad));
    // The descriptor elsewhere than sector 1.
    let mut bad = sparse.clone();
    bad[28..36].copy_from_slice(&2u64.to_le_bytes());
    cases.push(("the descriptor away from sector 1", bad));
    // The footer of a stream-optimized image: pointing to another footer, another version, a
    // broken end-of-stream marker, a broken footer marker.
    let footer = stream.len() - 1024;
    let mut bad = stream.clone();
    bad[footer + 56..footer + 64].copy_from_slice(&u64::MAX.to_le_bytes());
    cases.push(("a footer pointing to another footer", bad));
    let mut bad = stream.clone();
    bad[footer + 4..footer + 8].copy_from_slice(&9u32.to_le_bytes());
    cases.push(("a footer of another version", bad));
    let mut bad = stream.clone();
    let eos = stream.len() - 512;
    bad[eos + 12..eos + 16].copy_from_slice(&7u32.to_le_bytes());
    cases.push(("a broken end-of-stream marker", bad));
    let mut bad = stream.clone();
    bad[footer - 512 + 100] = 1;
    cases.push(("a broken footer marker", bad));
    let mut bad = stream.clone();
    bad[footer + 28..footer + 36].copy_from_slice(&3u64.to_le_bytes());
    cases.push(("a footer naming another descriptor", bad));
    // GPT: a second MBR partition, a bad boot flag, a protective partition not at LBA 1.
    let mut bad = gpt.clone();
    bad[446 + 16 + 4] = 0x83;
    bad[446 + 16 + 8] = 0x10;
    cases.push(("a second MBR partition beside the GPT", bad));
    let mut bad = gpt.clone();
    bad[446] = 0x42;
    cases.push(("a bad MBR boot flag", bad));
    let mut bad = gpt.clone();
    bad[446 + 8..446 + 12].copy_from_slice(&2u32.to_le_bytes());
    cases.push(("a protective partition not at LBA 1", bad));
    for (what, bytes) in cases {
        let path = p.join("mutated");
        std::fs::write(&path, &bytes).expect("write");
        let v = inspect(&path);
        assert!(
            rules(&v).contains(&Rule::Malformed),
            "{what}: {:?}",
            v.findings
        );
        assert!(
            check(&v, v.format.as_str(), false).is_err(),
            "{what} is refused"
        );
    }
}
