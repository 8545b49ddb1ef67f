//! Small pieces the pages share: error messages, the plan view, a modal dialog, formatting.

use glint_core::Plan;
use leptos::prelude::*;
use serde_json::Value;

/// An error shown in place, announced to screen readers.
#[component]
pub(crate) fn ErrorBox(error: RwSignal<Option<String>>) -> impl IntoView {
    move || {
        error.get().map(|e| {
            view! { <p class="error-box" role="alert">"⚠ " {e}</p> }
        })
    }
}

/// A byte count for people: `1.5 GiB (1,610,612,736 bytes)`.
pub(crate) fn bytes(n: Option<u64>) -> String {
    let Some(n) = n else {
        return "—".into();
    };
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} bytes")
    } else {
        format!("{value:.1} {} ({} bytes)", UNITS[unit], grouped(n))
    }
}

fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An image status with a glyph, so it does not rest on colour alone.
#[component]
pub(crate) fn StatusBadge(status: glint_core::Status) -> impl IntoView {
    let s = status.as_str();
    let glyph = match s {
        "active" => "●",
        "queued" => "○",
        "saving" | "importing" | "uploading" => "◐",
        "deactivated" => "⊘",
        "killed" | "deleted" | "pending_delete" => "✕",
        _ => "·",
    };
    view! { <span class=format!("badge status-{s}") data-status=s>{glyph} " " {s}</span> }
}

fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "(none)".into(),
        other => other.to_string(),
    }
}

/// A plan as the user reviews it: violations, then added, changed, removed, attribute changes
/// and kept properties, each row with a glyph and a word.
#[component]
pub(crate) fn PlanView(plan: Plan) -> impl IntoView {
    let violations = plan.violations.clone();
    let added: Vec<(String, String)> = plan.added.clone().into_iter().collect();
    let changed: Vec<(String, String, String)> = plan
        .changed
        .iter()
        .map(|(k, c)| (k.clone(), c.old.clone(), c.new.clone()))
        .collect();
    let removed: Vec<(String, String)> = plan.removed.clone().into_iter().collect();
    let kept: Vec<(String, String)> = plan.kept.clone().into_iter().collect();
    let attributes: Vec<(String, String, String)> = serde_json::to_value(&plan.attributes)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .map(|m| {
            m.into_iter()
                .filter(|(_, c)| !c.is_null())
                .map(|(k, c)| (k, shown(&c["old"]), shown(&c["new"])))
                .collect()
        })
        .unwrap_or_default();
    let noop = plan.is_noop();
    let purge = plan.purge;
    let kept_count = kept.len();
    view! {
        <div class="plan" data-test="plan" aria-live="polite">
            {(!violations.is_empty()).then(|| view! {
                <h3 class="violations-title">"⚠ This change cannot be applied"</h3>
                <ul class="violations">
                    {violations.into_iter().map(|v| view! {
                        <li data-change="violation" data-key=v.key.clone()>
                            <span class="glyph" aria-hidden="true">"⚠"</span>
                            <strong>{format!("{:?}", v.kind).to_lowercase()}</strong>
                            " · " <code>{v.key.clone()}</code> " — " {v.message.clone()}
                        </li>
                    }).collect_view()}
                </ul>
            })}
            {purge.then(|| view! {
                <p class="purge-note">
                    "↺ Replace all: every property not listed in the new set is removed."
                </p>
            })}
            {noop.then(|| view! { <p class="muted" data-test="noop">"No changes."</p> })}
            <ul class="changes">
                {added.into_iter().map(|(k, v)| view! {
                    <li class="added" data-change="added" data-key=k.clone()>
                        <span class="glyph" aria-hidden="true">"+"</span>
                        <span class="word">"added"</span>
                        <code>{k.clone()}</code> " = " <q>{v}</q>
                    </li>
                }).collect_view()}
                {changed.into_iter().map(|(k, old, new)| view! {
                    <li class="changed" data-change="changed" data-key=k.clone()>
                        <span class="glyph" aria-hidden="true">"~"</span>
                        <span class="word">"changed"</span>
                        <code>{k.clone()}</code> ": " <q>{old}</q> " → " <q>{new}</q>
                    </li>
                }).collect_view()}
                {removed.into_iter().map(|(k, v)| view! {
                    <li class="removed" data-change="removed" data-key=k.clone()>
                        <span class="glyph" aria-hidden="true">"−"</span>
                        <span class="word">"removed"</span>
                        <code>{k.clone()}</code> " (was " <q>{v}</q> ")"
                    </li>
                }).collect_view()}
                {attributes.into_iter().map(|(k, old, new)| view! {
                    <li class="changed" data-change="attribute" data-key=k.clone()>
                        <span class="glyph" aria-hidden="true">"~"</span>
                        <span class="word">"attribute"</span>
                        <code>{k.clone()}</code> ": " <q>{old}</q> " → " <q>{new}</q>
                    </li>
                }).collect_view()}
            </ul>
            {(kept_count > 0).then(|| view! {
                <details class="kept">
                    <summary>{format!("= {kept_count} kept unchanged")}</summary>
                    <ul>
                        {kept.into_iter().map(|(k, v)| view! {
                            <li data-change="kept" data-key=k.clone()>
                                <span class="glyph" aria-hidden="true">"="</span>
                                <code>{k.clone()}</code> " = " <q>{v}</q>
                            </li>
                        }).collect_view()}
                    </ul>
                </details>
            })}
        </div>
    }
}

/// A modal dialog (the browser's `<dialog>`, which keeps focus inside and closes on Escape),
/// open while `open` is true.
#[component]
pub(crate) fn Modal(open: RwSignal<bool>, title: String, children: ChildrenFn) -> impl IntoView {
    let dialog = NodeRef::<leptos::html::Dialog>::new();
    Effect::new(move |_| {
        let Some(d) = dialog.get() else { return };
        if open.get() {
            if !d.open() {
                let _ = d.show_modal();
            }
        } else if d.open() {
            d.close();
        }
    });
    view! {
        <dialog node_ref=dialog class="modal" aria-label=title.clone()
            on:close=move |_| open.set(false)>
            <h2>{title.clone()}</h2>
            {move || open.get().then(|| children())}
        </dialog>
    }
}
