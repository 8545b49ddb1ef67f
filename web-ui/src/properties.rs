//! The property editor. A removal is an explicit action on a row, never inferred from absence.
//! "Review changes" plans the edit with `glint-core` (the code the server runs) and shows the
//! plan; "Submit" sends exactly that plan as a JSON patch with `If-Match`. When the image
//! changed in between (412), the editor reads it again, plans the same edit against it and
//! shows what changed, so nobody's update is overwritten unseen.
//!
//! Where a key has a metadata definition (a namespace associated with `OS::Glance::Image`),
//! its value gets a typed input (a choice for an enum or a boolean, a bounded number) and a
//! note when the value does not fit the definition; the check is core's.

use std::collections::BTreeMap;

use glint_core::metadefs::{Definition, Input};
use glint_core::{Edit, Image, Plan, Request};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::Ctx;
use crate::api::{self, Patched, Session, Versioned};
use crate::widgets::{ErrorBox, PlanView};

#[derive(Debug, Clone, Copy)]
struct Row {
    n: u32,
    /// The key and value the image had, for rows that came from it.
    original: Option<(RwSignal<String>, RwSignal<String>)>,
    key: RwSignal<String>,
    value: RwSignal<String>,
    removed: RwSignal<bool>,
}

impl Row {
    fn state(&self) -> &'static str {
        match self.original {
            None if self.key.get().trim().is_empty() => "blank",
            None => "added",
            Some(_) if self.removed.get() => "removed",
            Some((k, v)) if k.get() != self.key.get() || v.get() != self.value.get() => "changed",
            Some(_) => "kept",
        }
    }
}

/// A review: the plan, the edit it came from and the version it was computed against.
#[derive(Debug, Clone, PartialEq)]
struct Review {
    plan: Plan,
    edit: Edit,
    base: Versioned,
}

fn plan_for(session: &Session, image: &Image, edit: &Edit) -> Plan {
    session.plan(image, &Request::Edit(edit.clone()))
}

/// Keys whose value differs between two versions of an image, as `key: old -> new` lines.
fn differences(before: &Image, after: &Image) -> Vec<String> {
    let mut keys: Vec<&String> = before
        .properties
        .keys()
        .chain(after.properties.keys())
        .collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(
            |k| match (before.properties.get(k), after.properties.get(k)) {
                (Some(a), Some(b)) if a != b => Some(format!("{k}: \"{a}\" → \"{b}\"")),
                (Some(a), None) => Some(format!("{k}: \"{a}\" → removed")),
                (None, Some(b)) => Some(format!("{k}: added \"{b}\"")),
                _ => None,
            },
        )
        .collect()
}

type Definitions = RwSignal<BTreeMap<String, Definition>>;

/// The value cell of a row: typed by the key's definition when it has one.
fn value_input(
    n: u32,
    row: Row,
    def: Option<Definition>,
    review: RwSignal<Option<Review>>,
) -> impl IntoView {
    let id = format!("value-{n}");
    let set = move |v: String| {
        row.value.set(v);
        review.set(None);
    };
    let input = match def.as_ref().map(|d| d.input.clone()) {
        Some(Input::Choice(options)) => choice(id, row, options, set).into_any(),
        Some(Input::Toggle) => choice(id, row, vec!["true".into(), "false".into()], set).into_any(),
        Some(Input::Number { whole, min, max }) => view! {
            <input id=id class="value" data-test="value" type="number"
                step=if whole { "1" } else { "any" }
                min=min.map(|m| m.to_string()) max=max.map(|m| m.to_string())
                disabled=move || row.removed.get()
                prop:value=move || row.value.get()
                on:input=move |ev| set(event_target_value(&ev)) />
        }
        .into_any(),
        _ => view! {
            <input id=id class="value" data-test="value"
                disabled=move || row.removed.get()
                prop:value=move || row.value.get()
                on:input=move |ev| set(event_target_value(&ev)) />
        }
        .into_any(),
    };
    let note = def.map(|d| {
        let title = format!("{} ({})", d.title, d.namespace);
        let hint = d.description.clone().unwrap_or_default();
        view! {
            <span class="hint" data-test="def-hint" title=hint>{title}</span>
            {move || (!row.removed.get()).then(|| d.check(&row.value.get()).err()).flatten().map(|why| view! {
                <span class="warn" role="note" data-test="def-warning">{format!("⚠ {why}")}</span>
            })}
        }
    });
    view! { {input} {note} }
}

/// A `<select>` of the allowed values; a current value outside them stays selectable, marked.
fn choice(
    id: String,
    row: Row,
    options: Vec<String>,
    set: impl Fn(String) + Copy + 'static,
) -> impl IntoView {
    let current = row.value.get_untracked();
    let mut all: Vec<(String, String)> = Vec::new();
    if current.is_empty() {
        all.push((String::new(), "— choose —".into()));
    } else if !options.contains(&current) {
        all.push((current.clone(), format!("{current} (not defined)")));
    }
    all.extend(options.into_iter().map(|o| (o.clone(), o)));
    view! {
        <select id=id class="value" data-test="value"
            disabled=move || row.removed.get()
            prop:value=move || row.value.get()
            on:change=move |ev| set(event_target_value(&ev))>
            {all.into_iter().map(|(value, label)| {
                let selected = value == current;
                view! { <option value=value selected=selected>{label}</option> }
            }).collect_view()}
        </select>
    }
}

/// Edited values a definition does not allow, as sentences.
fn misfits(edit: &Edit, definitions: &BTreeMap<String, Definition>) -> Vec<String> {
    edit.properties
        .iter()
        .filter_map(|(k, v)| definitions.get(k).and_then(|d| d.check(v).err()))
        .collect()
}

#[component]
pub(crate) fn PropertyEditor(current: RwSignal<Option<Versioned>>) -> impl IntoView {
    let ctx = Ctx::get();
    let rows = RwSignal::new(Vec::<Row>::new());
    let counter = StoredValue::new(0u32);
    let next_n = move || {
        counter.update_value(|c| *c += 1);
        counter.get_value()
    };
    let reset = move |image: &Image| {
        let fresh: Vec<Row> = image
            .properties
            .iter()
            .map(|(k, v)| Row {
                n: next_n(),
                original: Some((RwSignal::new(k.clone()), RwSignal::new(v.clone()))),
                key: RwSignal::new(k.clone()),
                value: RwSignal::new(v.clone()),
                removed: RwSignal::new(false),
            })
            .collect();
        rows.set(fresh);
    };
    if let Some(v) = current.get_untracked() {
        reset(&v.image);
    }
    let filter = RwSignal::new(String::new());
    let replace_all = RwSignal::new(false);
    let replacement = RwSignal::new(String::new());
    let confirmed = RwSignal::new(false);
    let review = RwSignal::new(None::<Review>);
    let stale = RwSignal::new(None::<Vec<String>>);
    let saved = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let definitions: Definitions = RwSignal::new(BTreeMap::new());
    spawn_local(async move {
        if let Ok(found) = api::image_definitions().await {
            definitions.set(found);
        }
    });

    let edit = move || -> Result<Edit, String> {
        let mut edit = Edit::default();
        if replace_all.get_untracked() {
            edit.replace_all = true;
            for line in replacement.get_untracked().lines() {
                if line.trim().is_empty() {
                    continue;
                }
                let (k, v) = line
                    .split_once('=')
                    .ok_or_else(|| format!("'{line}' is not key=value."))?;
                edit.properties.insert(k.trim().to_string(), v.to_string());
            }
            return Ok(edit);
        }
        let mut seen = BTreeMap::new();
        for row in rows.get_untracked() {
            let key = row.key.get_untracked().trim().to_string();
            let value = row.value.get_untracked();
            match row.original {
                Some((k, v)) => {
                    let (k, v) = (k.get_untracked(), v.get_untracked());
                    if row.removed.get_untracked() {
                        edit.removed.insert(k);
                    } else if key != k {
                        edit.removed.insert(k);
                        edit.properties.insert(key.clone(), value);
                    } else if value != v {
                        edit.properties.insert(key.clone(), value);
                    }
                }
                None if key.is_empty() || row.removed.get_untracked() => continue,
                None => {
                    edit.properties.insert(key.clone(), value);
                }
            }
            if !row.removed.get_untracked() && seen.insert(key.clone(), ()).is_some() {
                return Err(format!("'{key}' appears on two rows."));
            }
        }
        Ok(edit)
    };

    let do_review = move || {
        error.set(None);
        saved.set(None);
        confirmed.set(false);
        let (Some(session), Some(base)) = (ctx.session.get_untracked(), current.get_untracked())
        else {
            return;
        };
        match edit() {
            Ok(edit) => {
                let plan = plan_for(&session, &base.image, &edit);
                review.set(Some(Review { plan, edit, base }));
            }
            Err(e) => error.set(Some(e)),
        }
    };

    let submit = move |_| {
        let Some(r) = review.get_untracked() else {
            return;
        };
        let Some(session) = ctx.session.get_untracked() else {
            return;
        };
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            let patch = r.plan.to_patch().to_json();
            let id = r.base.image.id.clone();
            match api::patch_image(&id, &patch, r.base.etag.as_deref()).await {
                Ok(Patched::Done(v)) => {
                    let p = &r.plan;
                    saved.set(Some(format!(
                        "✓ Saved: {} added, {} changed, {} removed.",
                        p.added.len(),
                        p.changed.len(),
                        p.removed.len()
                    )));
                    reset(&v.image);
                    current.set(Some(*v));
                    review.set(None);
                    stale.set(None);
                    replace_all.set(false);
                }
                Ok(Patched::Stale(_)) => match api::get_image(&id).await {
                    Ok(fresh) => {
                        stale.set(Some(differences(&r.base.image, &fresh.image)));
                        let plan = plan_for(&session, &fresh.image, &r.edit);
                        current.set(Some(fresh.clone()));
                        review.set(Some(Review {
                            plan,
                            edit: r.edit,
                            base: fresh,
                        }));
                        confirmed.set(false);
                    }
                    Err(e) => error.set(Some(e.to_string())),
                },
                Err(e) => {
                    error.set(Some(e.to_string()));
                }
            }
            busy.set(false);
        });
    };

    let add_row = move |_| {
        let n = next_n();
        rows.update(|r| {
            r.push(Row {
                n,
                original: None,
                key: RwSignal::new(String::new()),
                value: RwSignal::new(String::new()),
                removed: RwSignal::new(false),
            })
        });
        review.set(None);
    };
    let enter_replace = move |_| {
        let text = current
            .get_untracked()
            .map(|v| {
                v.image
                    .properties
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default();
        replacement.set(text);
        replace_all.set(true);
        review.set(None);
    };

    let visible = move |row: &Row| {
        let f = filter.get().to_lowercase();
        f.is_empty()
            || row.key.get().to_lowercase().contains(&f)
            || row.value.get().to_lowercase().contains(&f)
    };
    let hidden_changes = move || {
        rows.get()
            .iter()
            .filter(|r| !visible(r) && !matches!(r.state(), "kept" | "blank"))
            .count()
    };

    view! {
        <section class="card" aria-label="Properties">
            <div class="page-head">
                <h2>"Properties"</h2>
                <span class="spacer"></span>
                {move || if replace_all.get() {
                    view! { <button on:click=move |_| { replace_all.set(false); review.set(None); }>"Back to row editing"</button> }.into_any()
                } else {
                    view! { <button data-test="replace-all" on:click=enter_replace>"Replace all properties…"</button> }.into_any()
                }}
            </div>
            {move || (!replace_all.get()).then(|| view! {
                <div class="field">
                    <label for="prop-filter">"Filter rows (what is submitted does not depend on it)"</label>
                    <input id="prop-filter" type="search" prop:value=move || filter.get()
                        on:input=move |ev| filter.set(event_target_value(&ev))
                        on:change=move |ev| filter.set(event_target_value(&ev)) />
                </div>
                {move || {
                    let n = hidden_changes();
                    (n > 0).then(|| view! { <p class="muted" data-test="hidden-changes">{format!("{n} edited rows are hidden by the filter; they are still part of the change.")}</p> })
                }}
                <table class="props" data-test="props">
                    <thead><tr><th scope="col">""</th><th scope="col">"Key"</th><th scope="col">"Value"</th><th scope="col">"Action"</th></tr></thead>
                    <tbody>
                        {move || rows.get().into_iter().filter(|r| visible(r)).map(|row| {
                            let n = row.n;
                            let is_new = row.original.is_none();
                            let key_label = move || row.key.get();
                            view! {
                                <tr data-key=key_label data-state=move || row.state()
                                    class:removed=move || row.removed.get()>
                                    <td class="glyph" aria-hidden="true">{move || match row.state() {
                                        "added" => "+", "changed" => "~", "removed" => "−", _ => "",
                                    }}</td>
                                    <td>
                                        <label class="sr-only" for=format!("key-{n}")>"Key"</label>
                                        <input id=format!("key-{n}") class="key" data-test="key"
                                            list="metadef-keys"
                                            readonly=!is_new
                                            prop:value=move || row.key.get()
                                            on:input=move |ev| { row.key.set(event_target_value(&ev)); review.set(None); } />
                                    </td>
                                    <td>
                                        <label class="sr-only" for=format!("value-{n}")>{move || format!("Value of {}", row.key.get())}</label>
                                        {move || {
                                            let key = row.key.get();
                                            let def = definitions.with(|d| d.get(key.trim()).cloned());
                                            value_input(n, row, def, review)
                                        }}
                                    </td>
                                    <td>
                                        {move || if row.removed.get() {
                                            view! { <button data-test="undo" on:click=move |_| { row.removed.set(false); review.set(None); }>"Undo removal"</button> }.into_any()
                                        } else if is_new {
                                            view! { <button data-test="drop" on:click=move |_| { rows.update(|r| r.retain(|x| x.n != n)); review.set(None); }>"Drop row"</button> }.into_any()
                                        } else {
                                            view! { <button data-test="remove" aria-label=format!("Remove {}", row.key.get_untracked()) on:click=move |_| { row.removed.set(true); review.set(None); }>"− Remove"</button> }.into_any()
                                        }}
                                    </td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
                <datalist id="metadef-keys">
                    {move || definitions.with(|d| d.values().map(|def| view! {
                        <option value=def.key.clone()>{def.title.clone()}</option>
                    }).collect_view())}
                </datalist>
                <button data-test="add-row" on:click=add_row>"+ Add property"</button>
            })}
            {move || replace_all.get().then(|| view! {
                <div class="field">
                    <label for="replacement">"The complete new property set, one key=value per line. Every property not listed here is removed."</label>
                    <textarea id="replacement" rows="10" data-test="replacement"
                        prop:value=move || replacement.get()
                        on:input=move |ev| { replacement.set(event_target_value(&ev)); review.set(None); }></textarea>
                </div>
            })}
            <div class="actions">
                <button class="primary" data-test="review" on:click=move |_| do_review()>"Review changes"</button>
            </div>
            <ErrorBox error=error />
            {move || saved.get().map(|s| view! { <p class="ok" role="status" data-test="saved">{s}</p> })}
            {move || stale.get().map(|diff| view! {
                <div class="notice" role="alert" data-test="stale-notice">
                    <strong>"⚠ The image changed after you reviewed it; nothing was written."</strong>
                    <p>"Meanwhile:"</p>
                    <ul>{diff.into_iter().map(|d| view! { <li>{d}</li> }).collect_view()}</ul>
                    <p>"Below is your change planned again against the image as it is now. Review it and submit again."</p>
                </div>
            })}
            {move || review.get().map(|r| {
                let allowed = r.plan.is_allowed();
                let noop = r.plan.is_noop();
                let purges = r.plan.purge && !r.plan.removed.is_empty();
                let removed = r.plan.removed.len();
                let outside = definitions.with(|d| misfits(&r.edit, d));
                view! {
                    <section class="review" aria-label="Review">
                        <h3>"Review"</h3>
                        <PlanView plan=r.plan.clone() />
                        {(!outside.is_empty()).then(|| view! {
                            <div class="notice" data-test="misfits">
                                <strong>"Outside the metadata definitions (allowed, but check them):"</strong>
                                <ul>{outside.into_iter().map(|m| view! { <li>{m}</li> }).collect_view()}</ul>
                            </div>
                        })}
                        {purges.then(|| view! {
                            <label class="confirm">
                                <input type="checkbox" data-test="confirm-purge"
                                    prop:checked=move || confirmed.get()
                                    on:change=move |ev| confirmed.set(event_target_checked(&ev)) />
                                {format!("Yes, remove these {removed} properties.")}
                            </label>
                        })}
                        <div class="actions">
                            <button class="primary" data-test="submit"
                                disabled=move || busy.get() || !allowed || noop || (purges && !confirmed.get())
                                on:click=submit>"Submit"</button>
                        </div>
                    </section>
                }
            })}
        </section>
    }
}
