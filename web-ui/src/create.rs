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
    // The properties the deployment's image schema requires, each with its own input.
    let required: Vec<Required> = settings
        .image_schema
        .required
        .iter()
        .map(|key| Required::new(key, &settings.image_schema.properties))
        .collect();
    let required = StoredValue::new(required);

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
        for r in required.get_value() {
            let v = r.value.get_untracked();
            if !v.trim().is_empty() {
                m.insert(r.key.clone(), r.json(v.trim()));
            }
        }
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
                    {move || {
                        let list = required.get_value();
                        (!list.is_empty()).then(|| view! {
                            <fieldset class="span form-grid" data-test="required-props">
                                <legend>"Required properties"</legend>
                                {list.into_iter().map(|r| r.input()).collect_view()}
                            </fieldset>
                        })
                    }}
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

/// A property the image schema requires: its key, how it is entered, what was entered.
#[derive(Debug, Clone)]
struct Required {
    key: String,
    kind: &'static str,
    choices: Vec<String>,
    pattern: Option<String>,
    description: Option<String>,
    value: RwSignal<String>,
}

impl Required {
    fn new(key: &str, properties: &std::collections::BTreeMap<String, Value>) -> Required {
        let def = properties.get(key).cloned().unwrap_or(Value::Null);
        let types: Vec<String> = match &def["type"] {
            Value::String(t) => vec![t.clone()],
            Value::Array(ts) => ts
                .iter()
                .filter_map(|t| t.as_str().map(String::from))
                .collect(),
            _ => Vec::new(),
        };
        let kind = ["integer", "number", "boolean"]
            .into_iter()
            .find(|k| types.iter().any(|t| t == k))
            .unwrap_or("string");
        let mut choices: Vec<String> = def["enum"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|v| match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        if kind == "boolean" && choices.is_empty() {
            choices = vec!["true".into(), "false".into()];
        }
        Required {
            key: key.to_string(),
            kind,
            choices,
            pattern: def["pattern"].as_str().map(String::from),
            description: def["description"].as_str().map(String::from),
            value: RwSignal::new(String::new()),
        }
    }

    /// The value as the API takes it: a number or boolean where the schema types it so.
    fn json(&self, text: &str) -> Value {
        let typed = match self.kind {
            "integer" => text.parse::<i64>().ok().map(Value::from),
            "number" => text
                .parse::<f64>()
                .ok()
                .and_then(|n| serde_json::Number::from_f64(n).map(Value::Number)),
            "boolean" => text.parse::<bool>().ok().map(Value::Bool),
            _ => None,
        };
        typed.unwrap_or_else(|| Value::String(text.to_string()))
    }

    fn input(self) -> impl IntoView {
        let id = format!("c-req-{}", self.key);
        let value = self.value;
        let label = self.key.clone();
        let field = match self.choices.is_empty() {
            false => {
                let options = self
                    .choices
                    .iter()
                    .map(|o| view! { <option value=o.clone()>{o.clone()}</option> })
                    .collect_view();
                view! {
                    <select id=id.clone() data-test="required-prop" data-key=self.key.clone()
                        on:change=move |ev| value.set(event_target_value(&ev))>
                        <option value="">"— choose —"</option>
                        {options}
                    </select>
                }
                .into_any()
            }
            true => {
                let kind = match self.kind {
                    "integer" | "number" => "number",
                    _ => "text",
                };
                let step = (self.kind == "number").then_some("any");
                view! {
                    <input id=id.clone() type=kind step=step placeholder=self.pattern.clone().unwrap_or_default()
                        data-test="required-prop" data-key=self.key.clone()
                        prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev)) />
                }
                .into_any()
            }
        };
        view! {
            <label for=id title=self.description.clone().unwrap_or_default()>{label}" *"</label>
            {field}
        }
    }
}
