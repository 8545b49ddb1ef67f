//! Creating an image: core attributes and properties, checked by core's create plan before
//! they are sent, then the data upload.

use glint_core::{Create, Image, Request};
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{Map, Value, json};

use crate::route::{Route, Tab};
use crate::upload::Uploader;
use crate::widgets::{ErrorBox, PlanView};
use crate::{Ctx, api};

#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    n: u32,
    key: RwSignal<String>,
    value: RwSignal<String>,
}

#[component]
pub(crate) fn CreateImage() -> impl IntoView {
    let ctx = Ctx::get();
    let settings = ctx
        .session
        .get_untracked()
        .map(|s| s.settings)
        .unwrap_or_default();
    let name = RwSignal::new(String::new());
    let disk_format = RwSignal::new("qcow2".to_string());
    let container_format = RwSignal::new("bare".to_string());
    let visibility = RwSignal::new("private".to_string());
    let min_disk = RwSignal::new(String::from("0"));
    let min_ram = RwSignal::new(String::from("0"));
    let protected = RwSignal::new(false);
    let tags = RwSignal::new(String::new());
    let rows = RwSignal::new(Vec::<Row>::new());
    let counter = StoredValue::new(0u32);
    let error = RwSignal::new(None::<String>);
    let plan = RwSignal::new(None::<glint_core::Plan>);
    let created = RwSignal::new(None::<Image>);

    let add_row = move |_| {
        counter.update_value(|c| *c += 1);
        let n = counter.get_value();
        rows.update(|r| {
            r.push(Row {
                n,
                key: RwSignal::new(String::new()),
                value: RwSignal::new(String::new()),
            })
        });
    };

    let body = move || -> Result<Value, String> {
        let mut m = Map::new();
        let n = name.get_untracked();
        if !n.trim().is_empty() {
            m.insert("name".into(), json!(n.trim()));
        }
        m.insert("disk_format".into(), json!(disk_format.get_untracked()));
        m.insert(
            "container_format".into(),
            json!(container_format.get_untracked()),
        );
        m.insert("visibility".into(), json!(visibility.get_untracked()));
        for (k, s) in [("min_disk", min_disk), ("min_ram", min_ram)] {
            let v = s.get_untracked();
            let v: u64 = v
                .trim()
                .parse()
                .map_err(|_| format!("{k} must be a whole number, not '{v}'."))?;
            m.insert(k.into(), json!(v));
        }
        m.insert("protected".into(), json!(protected.get_untracked()));
        let t: Vec<String> = tags
            .get_untracked()
            .split(',')
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect();
        m.insert("tags".into(), json!(t));
        for row in rows.get_untracked() {
            let k = row.key.get_untracked().trim().to_string();
            if k.is_empty() {
                continue;
            }
            if m.contains_key(&k) {
                return Err(format!("'{k}' is given twice."));
            }
            m.insert(k, json!(row.value.get_untracked()));
        }
        Ok(Value::Object(m))
    };

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        let body = match body() {
            Ok(b) => b,
            Err(e) => {
                error.set(Some(e));
                return;
            }
        };
        let Some(session) = ctx.session.get_untracked() else {
            return;
        };
        let request = match Create::parse(&body) {
            Ok(c) => Request::Create(c),
            Err(e) => {
                error.set(Some(e.to_string()));
                return;
            }
        };
        let blank = Image::new("", session.project_id.clone(), "");
        let p = session.plan(&blank, &request);
        let allowed = p.is_allowed();
        plan.set(Some(p));
        if !allowed {
            return;
        }
        spawn_local(async move {
            match api::create_image(&body).await {
                Ok(image) => created.set(Some(image)),
                Err(e) => {
                    error.set(Some(e.to_string()));
                }
            }
        });
    };

    let options = |list: Vec<String>, s: RwSignal<String>| {
        list.into_iter()
            .map(|o| {
                let sel = o.clone();
                view! { <option value=o.clone() selected=move || s.get() == sel>{o.clone()}</option> }
            })
            .collect_view()
    };

    view! {
        <h1>"New image"</h1>
        {move || match created.get() {
            None => view! {
                <form class="card form-grid" on:submit=submit aria-label="Image attributes">
                    <label for="c-name">"Name"</label>
                    <input id="c-name" prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) />
                    <label for="c-disk">"Disk format"</label>
                    <select id="c-disk" on:change=move |ev| disk_format.set(event_target_value(&ev))>
                        {options(settings.disk_formats.clone(), disk_format)}
                    </select>
                    <label for="c-container">"Container format"</label>
                    <select id="c-container" on:change=move |ev| container_format.set(event_target_value(&ev))>
                        {options(settings.container_formats.clone(), container_format)}
                    </select>
                    <label for="c-visibility">"Visibility"</label>
                    <select id="c-visibility" on:change=move |ev| visibility.set(event_target_value(&ev))>
                        {options(["private", "shared", "community", "public"].map(String::from).to_vec(), visibility)}
                    </select>
                    <label for="c-min-disk">"Minimum disk (GB)"</label>
                    <input id="c-min-disk" inputmode="numeric" prop:value=move || min_disk.get() on:input=move |ev| min_disk.set(event_target_value(&ev)) />
                    <label for="c-min-ram">"Minimum RAM (MB)"</label>
                    <input id="c-min-ram" inputmode="numeric" prop:value=move || min_ram.get() on:input=move |ev| min_ram.set(event_target_value(&ev)) />
                    <label for="c-protected">"Protected"</label>
                    <input id="c-protected" type="checkbox" prop:checked=move || protected.get() on:change=move |ev| protected.set(event_target_checked(&ev)) />
                    <label for="c-tags">"Tags (comma separated)"</label>
                    <input id="c-tags" prop:value=move || tags.get() on:input=move |ev| tags.set(event_target_value(&ev)) />
                    <fieldset class="span">
                        <legend>"Properties"</legend>
                        {move || rows.get().into_iter().map(|row| {
                            let n = row.n;
                            view! {
                                <div class="prop-row">
                                    <label for=format!("c-key-{n}") class="sr-only">"Key"</label>
                                    <input id=format!("c-key-{n}") class="key" placeholder="key" data-test="new-key"
                                        prop:value=move || row.key.get() on:input=move |ev| row.key.set(event_target_value(&ev)) />
                                    <label for=format!("c-value-{n}") class="sr-only">"Value"</label>
                                    <input id=format!("c-value-{n}") class="value" placeholder="value" data-test="new-value"
                                        prop:value=move || row.value.get() on:input=move |ev| row.value.set(event_target_value(&ev)) />
                                    <button type="button" aria-label="Drop this row"
                                        on:click=move |_| rows.update(|r| r.retain(|x| x.n != n))>"✕"</button>
                                </div>
                            }
                        }).collect_view()}
                        <button type="button" data-test="add-prop" on:click=add_row>"+ Add property"</button>
                    </fieldset>
                    <div class="span">
                        {move || plan.get().filter(|p| !p.is_allowed()).map(|p| view! { <PlanView plan=p /> })}
                        <ErrorBox error=error />
                        <button type="submit" class="primary">"Create image"</button>
                    </div>
                </form>
            }.into_any(),
            Some(image) => {
                let id = image.id.clone();
                let href = Route::Image { id: id.clone(), tab: Tab::Overview }.href();
                view! {
                    <section class="card">
                        <p data-test="created">
                            "✓ Image " <a href=href.clone()>{image.name.clone().unwrap_or_else(|| id.clone())}</a>
                            " created (" <code>{id.clone()}</code> "). Upload its data:"
                        </p>
                        <Uploader id=id.clone() disk_format=image.disk_format.clone() on_done=move |_| {} />
                        <p><a class="button" href=href>"Go to the image"</a></p>
                    </section>
                }.into_any()
            }
        }}
    }
}
