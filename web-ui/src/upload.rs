//! Uploading an image's data with a progress bar (percent, bytes, rate) and a cancel button.
//! A cancelled or failed upload leaves the image `queued`, ready for another try. Where the
//! deployment converts imports (Glance's `image_conversion`) and the image is in another
//! format, the form says what the image will be stored as, and the file is staged and imported
//! (glance-direct) so that it is converted.

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
    /// Staged; the import (conversion, then the store) runs on the server.
    Importing,
    Done(Box<Image>),
    Cancelled,
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// What the browser found in the chosen file before sending it.
#[derive(Debug, Clone, PartialEq)]
enum Inspection {
    Running,
    Done(glint_core::inspect::Verdict),
    Failed(String),
}

/// The upload form for an image that has no data yet. `on_done` gets the image once active.
/// The chosen file is read through core's inspector first, so what the server would refuse
/// (a backing file, an external data file, a format that is not the declared one) is shown
/// before any byte is sent.
#[component]
pub(crate) fn Uploader(
    id: String,
    disk_format: Option<String>,
    #[prop(into)] on_done: Callback<Image>,
) -> impl IntoView {
    let ctx = crate::Ctx::get();
    let require_match = ctx
        .session
        .get_untracked()
        .is_some_and(|s| s.settings.require_format_match);
    let settings = ctx
        .session
        .get_untracked()
        .map(|s| s.settings)
        .unwrap_or_default();
    let inspection = RwSignal::new(None::<Inspection>);
    let error = RwSignal::new(None::<String>);
    let generation = StoredValue::new(0u32);
    let declared = RwSignal::new(disk_format);
    // What the deployment injects into this caller's imports (the server's rule).
    let injected: Vec<(String, String)> = ctx
        .session
        .get_untracked()
        .map(|s| settings.injected_for(&s.caller()).into_iter().collect())
        .unwrap_or_default();
    // What an import makes of the image here: the same rule the server applies.
    let output = settings.conversion_output_format.clone();
    let converts_to = Memo::new(move |_| {
        glint_core::settings::conversion_target(output.as_deref(), declared.get().as_deref())
            .map(str::to_string)
    });
    // The server's rule, applied to the browser's verdict.
    let judge = move |verdict: &glint_core::inspect::Verdict| {
        let d = declared.get();
        glint_core::inspect::check(
            verdict,
            d.as_deref().unwrap_or("raw"),
            require_match && d.is_some(),
        )
        .map_err(|r| r.message)
    };
    let propose = {
        let id = id.clone();
        move |format: String| {
            let id = id.clone();
            spawn_local(async move {
                let ops =
                    serde_json::json!([{"op": "replace", "path": "/disk_format", "value": format}]);
                match api::patch_image(&id, &ops, None).await {
                    Ok(_) => declared.set(Some(format)),
                    Err(e) => error.set(Some(e.to_string())),
                }
            });
        }
    };
    let input = NodeRef::<leptos::html::Input>::new();
    let phase = RwSignal::new(Phase::Idle);
    let progress = RwSignal::new(Progress {
        sent: 0.0,
        total: 0.0,
    });
    let started = RwSignal::new(0.0f64);
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
            let converting = converts_to.get_untracked().is_some();
            let send = if converting { api::stage } else { api::upload };
            let result = send(
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
                        UploadEnd::Done if converting => {
                            let id = done_id.clone();
                            phase.set(Phase::Importing);
                            spawn_local(async move {
                                match import_and_wait(&id).await {
                                    Ok(image) => {
                                        phase.set(Phase::Done(Box::new(image.clone())));
                                        on_done.run(image);
                                    }
                                    Err(e) => {
                                        phase.set(Phase::Idle);
                                        error.set(Some(format!(
                                            "The import failed: {e}. The image is queued again; you can try again."
                                        )));
                                    }
                                }
                            });
                        }
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
    let busy = move || {
        matches!(
            phase.get(),
            Phase::Sending | Phase::Finishing | Phase::Importing
        )
    };
    view! {
        <section class="uploader" aria-label="Upload image data">
            <div class="field">
                <label for="upload-file">"Image file"</label>
                <input id="upload-file" type="file" node_ref=input disabled=busy
                    on:change=move |_| {
                        let f = input.get().and_then(|i| i.files()).and_then(|f| f.get(0));
                        chosen.set(f.as_ref().map(|f| (f.name(), f.size())));
                        inspection.set(None);
                        let Some(file) = f else { return };
                        generation.update_value(|g| *g += 1);
                        let mine = generation.get_value();
                        inspection.set(Some(Inspection::Running));
                        spawn_local(async move {
                            let result = api::inspect_file(&file).await;
                            if generation.get_value() != mine {
                                return;
                            }
                            inspection.set(Some(match result {
                                Ok(verdict) => Inspection::Done(verdict),
                                Err(e) => Inspection::Failed(e.to_string()),
                            }));
                        });
                    } />
                {move || chosen.get().map(|(name, size)| view! {
                    <span class="muted">{name} " · " {bytes(Some(size as u64))}</span>
                })}
            </div>
            {move || converts_to.get().map(|to| view! {
                <p class="muted" data-test="conversion" data-to=to.clone()>
                    {format!(
                        "This deployment converts imported images: the image will be stored as {to} (disk_format {} → {to}).",
                        declared.get().unwrap_or_default()
                    )}
                </p>
            })}
            {
                let injected = injected.clone();
                move || (converts_to.get().is_some() && !injected.is_empty()).then(|| view! {
                    <div class="plan" data-test="injected">
                        <p class="muted">"The import also sets (injected by the deployment):"</p>
                        <ul>
                            {injected.iter().map(|(k, v)| view! {
                                <li class="added" data-change="added" data-injected="true" data-key=k.clone()>
                                    "+ " <code>{k.clone()}</code> " = " {format!("\u{201c}{v}\u{201d}")} " (injected)"
                                </li>
                            }).collect_view()}
                        </ul>
                    </div>
                })
            }
            {move || inspection.get().map(|i| match i {
                Inspection::Running => view! {
                    <p class="muted" data-test="inspection">"Inspecting the file…"</p>
                }.into_any(),
                Inspection::Done(verdict) => {
                    let format = verdict.format.as_str().to_string();
                    let size = verdict
                        .virtual_size
                        .map(|v| format!(", a disk of {}", bytes(Some(v))))
                        .unwrap_or_default();
                    let other = declared.get().is_some_and(|d| d != format)
                        && verdict.is_safe()
                        && settings.disk_formats.contains(&format);
                    let propose = propose.clone();
                    let suggestion = other.then(|| {
                        let f = format.clone();
                        view! {
                            <button data-test="use-format" on:click=move |_| propose(f.clone())>
                                {format!("Set disk_format to {format}")}
                            </button>
                        }
                    });
                    match judge(&verdict) {
                        Ok(()) => view! {
                            <p class="ok" data-test="inspection" data-format=verdict.format.as_str()>
                                {format!("✓ The file is {}{size}; nothing in it will be refused.", verdict.format)}
                            </p>
                            {suggestion}
                        }.into_any(),
                        Err(why) => view! {
                            <p class="warn-box" role="alert" data-test="inspection" data-format=verdict.format.as_str()>
                                {format!("✕ The server will refuse this file: {why}")}
                            </p>
                            {suggestion}
                        }.into_any(),
                    }
                }
                Inspection::Failed(e) => view! { <p class="muted" data-test="inspection">{e}</p> }.into_any(),
            })}
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
                        Phase::Importing => "converting and storing…".to_string(),
                        Phase::Done(_) => "✓ done".to_string(),
                        Phase::Cancelled => "cancelled: the image is queued again".to_string(),
                        Phase::Idle => String::new(),
                    }}</span>
                </div>
            })}
            {move || match phase.get() {
                Phase::Done(image) => Some(view! {
                    <dl class="checksums" data-test="checksums">
                        <dt>"Format"</dt><dd data-test="stored-format">{image.disk_format.clone().unwrap_or_default()}</dd>
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

/// Imports staged data (glance-direct) and waits for the image to become active; the reason
/// (its task's message) when it goes back to `queued` instead.
async fn import_and_wait(id: &str) -> Result<Image, String> {
    api::import_staged(id).await.map_err(|e| e.to_string())?;
    loop {
        api::sleep_ms(300).await;
        let image = api::get_image(id).await.map_err(|e| e.to_string())?.image;
        match image.status {
            glint_core::Status::Active => return Ok(image),
            glint_core::Status::Queued => {
                let why = api::last_task_failure(id)
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| "the import did not complete".into());
                return Err(why);
            }
            _ => {}
        }
    }
}
