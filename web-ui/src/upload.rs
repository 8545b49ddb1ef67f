//! Uploading an image's data with a progress bar (percent, bytes, rate) and a cancel button.
//! A cancelled or failed upload leaves the image `queued`, ready for another try.

use glint_core::Image;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{self, Progress, UploadEnd};
use crate::widgets::{ErrorBox, bytes};

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    Idle,
    Sending,
    /// All bytes are out; the server is verifying and committing them.
    Finishing,
    Done(Box<Image>),
    Cancelled,
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// The upload form for an image that has no data yet. `on_done` gets the image once active.
#[component]
pub(crate) fn Uploader(id: String, #[prop(into)] on_done: Callback<Image>) -> impl IntoView {
    let input = NodeRef::<leptos::html::Input>::new();
    let phase = RwSignal::new(Phase::Idle);
    let progress = RwSignal::new(Progress {
        sent: 0.0,
        total: 0.0,
    });
    let started = RwSignal::new(0.0f64);
    let error = RwSignal::new(None::<String>);
    let chosen = RwSignal::new(None::<(String, f64)>);
    let current = StoredValue::new_local(None::<api::Upload>);

    let start = {
        let id = id.clone();
        move |_| {
            error.set(None);
            let Some(file) = input
                .get()
                .and_then(|i| i.files())
                .and_then(|files| files.get(0))
            else {
                error.set(Some("Choose a file first.".into()));
                return;
            };
            progress.set(Progress {
                sent: 0.0,
                total: file.size(),
            });
            started.set(now_ms());
            phase.set(Phase::Sending);
            let done_id = id.clone();
            let result = api::upload(
                &id,
                &file,
                move |p| {
                    progress.set(p);
                    if p.total > 0.0 && p.sent >= p.total {
                        phase.set(Phase::Finishing);
                    }
                },
                move |end| {
                    current.set_value(None);
                    match end {
                        UploadEnd::Done => {
                            let id = done_id.clone();
                            spawn_local(async move {
                                match api::get_image(&id).await {
                                    Ok(v) => {
                                        phase.set(Phase::Done(Box::new(v.image.clone())));
                                        on_done.run(v.image);
                                    }
                                    Err(e) => error.set(Some(e.to_string())),
                                }
                            });
                        }
                        UploadEnd::Cancelled => phase.set(Phase::Cancelled),
                        UploadEnd::Failed(e) => {
                            phase.set(Phase::Idle);
                            error.set(Some(format!(
                                "The upload failed: {e}. The image is still queued; you can try again."
                            )));
                        }
                    }
                },
            );
            match result {
                Ok(upload) => current.set_value(Some(upload)),
                Err(e) => {
                    phase.set(Phase::Idle);
                    error.set(Some(e.to_string()));
                }
            }
        }
    };
    let cancel = move |_| {
        current.with_value(|u| {
            if let Some(u) = u {
                u.cancel();
            }
        });
    };
    let percent = move || {
        let p = progress.get();
        if p.total > 0.0 {
            (p.sent / p.total * 100.0).clamp(0.0, 100.0)
        } else {
            0.0
        }
    };
    let rate = move || {
        let p = progress.get();
        let seconds = (now_ms() - started.get()) / 1000.0;
        if seconds > 0.05 {
            format!("{:.1} MB/s", p.sent / seconds / 1e6)
        } else {
            String::new()
        }
    };
    let busy = move || matches!(phase.get(), Phase::Sending | Phase::Finishing);
    view! {
        <section class="uploader" aria-label="Upload image data">
            <div class="field">
                <label for="upload-file">"Image file"</label>
                <input id="upload-file" type="file" node_ref=input disabled=busy
                    on:change=move |_| {
                        let f = input.get().and_then(|i| i.files()).and_then(|f| f.get(0));
                        chosen.set(f.map(|f| (f.name(), f.size())));
                    } />
                {move || chosen.get().map(|(name, size)| view! {
                    <span class="muted">{name} " · " {bytes(Some(size as u64))}</span>
                })}
            </div>
            <div class="actions">
                <button class="primary" data-test="upload" on:click=start disabled=busy>
                    {move || if matches!(phase.get(), Phase::Cancelled) { "Retry upload" } else { "Upload" }}
                </button>
                <button data-test="cancel-upload" on:click=cancel disabled=move || !busy()>"Cancel"</button>
            </div>
            {move || (!matches!(phase.get(), Phase::Idle)).then(|| view! {
                <div class="progress" data-test="progress">
                    <progress max="100" prop:value=percent aria-label="Upload progress"></progress>
                    <span data-test="percent">{move || format!("{:.0}%", percent())}</span>
                    <span>{move || {
                        let p = progress.get();
                        format!("{} of {}", bytes(Some(p.sent as u64)), bytes(Some(p.total as u64)))
                    }}</span>
                    <span>{rate}</span>
                    <span class="muted" data-test="upload-phase">{move || match phase.get() {
                        Phase::Sending => "sending…".to_string(),
                        Phase::Finishing => "verifying checksums…".to_string(),
                        Phase::Done(_) => "✓ done".to_string(),
                        Phase::Cancelled => "cancelled: the image is queued again".to_string(),
                        Phase::Idle => String::new(),
                    }}</span>
                </div>
            })}
            {move || match phase.get() {
                Phase::Done(image) => Some(view! {
                    <dl class="checksums" data-test="checksums">
                        <dt>"Size"</dt><dd>{bytes(image.size)}</dd>
                        <dt>"MD5"</dt><dd class="mono" data-test="md5">{image.checksum.clone().unwrap_or_default()}</dd>
                        <dt>{image.os_hash_algo.clone().unwrap_or_else(|| "hash".into())}</dt>
                        <dd class="mono" data-test="multihash">{image.os_hash_value.clone().unwrap_or_default()}</dd>
                    </dl>
                }),
                _ => None,
            }}
            <ErrorBox error=error />
        </section>
    }
}
