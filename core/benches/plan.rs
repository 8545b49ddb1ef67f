//! Planning cost as the property count grows: 10, 1,000 and 10,000 properties.

// Criterion runs natively only; the wasm build of the test suite skips this file.
#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
criterion::criterion_main!(native::benches);

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::hint::black_box;
    use std::time::Duration;

    use criterion::{BenchmarkId, Criterion, criterion_group};
    use glint_core::{
        Caller, Edit, Image, Patch, PatchDialect, PlanContext, Request, Settings, V1Update, apply,
        plan,
    };
    use serde_json::json;

    fn image_with(n: usize) -> Image {
        let mut img = Image::new(
            "6b8e1f0a-7c3d-4f2e-9a1b-2c3d4e5f6a7b",
            Some("p1".into()),
            "2026-01-01T00:00:00Z",
        );
        for i in 0..n {
            img.properties
                .insert(format!("key_{i:05}"), format!("value number {i}"));
        }
        img
    }

    fn requests(n: usize) -> Vec<(&'static str, Request)> {
        // v1 upload PUT naming five properties (merge, the seed flow).
        let headers: Vec<(String, String)> = (0..5)
            .map(|i| (format!("x-image-meta-property-new_{i}"), "v".to_string()))
            .collect();
        let upload =
            V1Update::from_headers(headers.iter().map(|(k, v)| (k.as_str(), v.as_str())), true)
                .expect("valid headers");
        let purge =
            V1Update::from_headers(headers.iter().map(|(k, v)| (k.as_str(), v.as_str())), false)
                .expect("valid headers");
        // v2 PATCH as the Glance benchmark sends it: replace 5, remove 5, add 5.
        let mut ops = Vec::new();
        for i in 0..5.min(n / 2) {
            ops.push(json!({"op": "replace", "path": format!("/key_{i:05}"), "value": "changed"}));
            ops.push(json!({"op": "remove", "path": format!("/key_{:05}", n - 1 - i)}));
        }
        for i in 0..5 {
            ops.push(json!({"op": "add", "path": format!("/added_{i}"), "value": "v"}));
        }
        let patch = Patch::parse(PatchDialect::V2_1, &json!(ops)).expect("valid patch");
        let edit = Edit {
            properties: (0..n / 2)
                .map(|i| (format!("key_{i:05}"), "edited".to_string()))
                .collect(),
            replace_all: true,
            ..Edit::default()
        };
        vec![
            ("v1_upload_merge", Request::V1Update(upload)),
            ("v1_purge", Request::V1Update(purge)),
            ("v2_patch_15_ops", Request::Patch(patch)),
            ("editor_replace_all", Request::Edit(edit)),
        ]
    }

    fn planning(c: &mut Criterion) {
        let caller = Caller::new(Some("p1"), &["member", "reader"]);
        let settings = Settings {
            property_quota: None,
            ..Settings::default()
        };
        let ctx = PlanContext::new(&caller, &settings);
        let mut group = c.benchmark_group("plan");
        group
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2))
            .sample_size(30);
        for n in [10, 1_000, 10_000] {
            let image = image_with(n);
            for (name, request) in requests(n) {
                group.bench_with_input(BenchmarkId::new(name, n), &request, |b, r| {
                    b.iter(|| plan(black_box(&image), black_box(r), &ctx))
                });
            }
            let p = plan(&image, &requests(n)[2].1, &ctx);
            group.bench_with_input(BenchmarkId::new("apply_patch_plan", n), &p, |b, p| {
                b.iter(|| apply(black_box(p), black_box(&image)))
            });
        }
        group.finish();
    }

    criterion_group!(benches, planning);
}
