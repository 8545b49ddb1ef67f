//! The inspector over a 1 GiB stream in 1 MiB chunks, as the server feeds it.

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
criterion::criterion_main!(native::benches);

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::hint::black_box;
    use std::time::Duration;

    use criterion::{Criterion, Throughput, criterion_group};
    use glint_core::inspect::Inspector;

    fn stream(c: &mut Criterion) {
        let mut chunk = vec![0u8; 1 << 20];
        // A qcow2-looking start, so the header paths run too.
        chunk[..4].copy_from_slice(b"QFI\xfb");
        chunk[4..8].copy_from_slice(&3u32.to_be_bytes());
        chunk[20..24].copy_from_slice(&16u32.to_be_bytes());
        chunk[100..104].copy_from_slice(&104u32.to_be_bytes());
        let mut group = c.benchmark_group("inspect");
        group
            .throughput(Throughput::Bytes(1 << 30))
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3));
        group.bench_function("1GiB_in_1MiB_chunks", |b| {
            b.iter(|| {
                let mut i = Inspector::new();
                for _ in 0..1024 {
                    i.feed(black_box(&chunk));
                }
                i.finish()
            })
        });
        // What the network hands over before the server gathers it into larger blocks.
        group.bench_function("1GiB_in_16KiB_chunks", |b| {
            b.iter(|| {
                let mut i = Inspector::new();
                for _ in 0..1024 {
                    for piece in chunk.chunks(16 * 1024) {
                        i.feed(black_box(piece));
                    }
                }
                i.finish()
            })
        });
        group.finish();
    }

    criterion_group!(benches, stream);
}
