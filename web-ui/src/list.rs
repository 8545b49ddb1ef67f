//! The image list: server-side paging with `marker`, sorting, filters, all kept in the URL.
//! Only images in a transitional state are polled for their status.

use std::time::Duration;

use glint_core::Image;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::route::{self, Route, Tab};
use crate::widgets::{ErrorBox, StatusBadge, bytes};
use crate::{Ctx, api};

const PAGE_SIZE: &str = "25";

/// Query names the list itself understands; any other name filters on a property.
const KNOWN: [&str; 12] = [
    "name",
    "status",
    "visibility",
    "owner",
    "disk_format",
    "container_format",
    "protected",
    "tag",
    "sort_key",
    "sort_dir",
    "marker",
    "limit",
];

const TRANSITIONAL: [&str; 4] = ["saving", "importing", "uploading", "pending_delete"];

fn get(query: &[(String, String)], key: &str) -> String {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

fn with(query: &[(String, String)], key: &str, value: Option<&str>) -> Vec<(String, String)> {
    let mut q: Vec<(String, String)> = query.iter().filter(|(k, _)| k != key).cloned().collect();
    if let Some(v) = value.filter(|v| !v.is_empty()) {
        q.push((key.to_string(), v.to_string()));
    }
    q
}

#[component]
pub(crate) fn ImageList(query: Vec<(String, String)>) -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    let mut api_query = query.clone();
    if !api_query.iter().any(|(k, _)| k == "limit") {
        api_query.push(("limit".into(), PAGE_SIZE.into()));
    }
    let page = LocalResource::new(move || {
        let q = api_query.clone();
        async move { api::list_images(&q).await }
    });
    let loading = move || page.get().is_none();
    // The page as loaded, then with the statuses of moving images polled since.
    let images = RwSignal::new(Vec::<Image>::new());
    let next = RwSignal::new(None::<String>);
    Effect::new(move || match page.get() {
        Some(Ok(p)) => {
            images.set(p.images);
            next.set(p.next);
        }
        Some(Err(e)) => error.set(Some(e.to_string())),
        None => {}
    });
    // Poll only what is moving.
    let poll = set_interval_with_handle(
        move || {
            let moving: Vec<String> = images
                .get_untracked()
                .iter()
                .filter(|i| TRANSITIONAL.contains(&i.status.as_str()))
                .map(|i| i.id.clone())
                .collect();
            for id in moving {
                spawn_local(async move {
                    if let Ok(v) = api::get_image(&id).await {
                        images.update(|list| {
                            if let Some(slot) = list.iter_mut().find(|i| i.id == v.image.id) {
                                *slot = v.image;
                            }
                        });
                    }
                });
            }
        },
        Duration::from_secs(2),
    )
    .ok();
    on_cleanup(move || {
        if let Some(handle) = poll {
            handle.clear();
        }
    });

    let q = query.clone();
    let sort_key = get(&q, "sort_key");
    let sort_dir = get(&q, "sort_dir");
    let header = move |key: &'static str, title: &'static str| {
        let active = sort_key == key;
        let dir = if active && sort_dir != "asc" {
            "asc"
        } else {
            "desc"
        };
        let target = with(
            &with(&with(&q, "marker", None), "sort_key", Some(key)),
            "sort_dir",
            Some(dir),
        );
        let mark = match (active, sort_dir.as_str()) {
            (true, "asc") => " ▲",
            (true, _) => " ▼",
            _ => "",
        };
        let sort = match (active, sort_dir.as_str()) {
            (true, "asc") => "ascending",
            (true, _) => "descending",
            _ => "none",
        };
        view! {
            <th scope="col" aria-sort=sort>
                <a href=Route::Images(target).href() data-sort=key>{title}{mark}</a>
            </th>
        }
    };

    let first_page = with(&query, "marker", None);
    let has_marker = query.iter().any(|(k, _)| k == "marker");
    let next_query = query.clone();
    view! {
        <div class="page-head">
            <h1>"Images"</h1>
            <a class="button primary" href="#/create">"+ New image"</a>
        </div>
        <Filters query=query.clone() />
        <ErrorBox error=error />
        <div class="table-wrap">
            <table class="images" data-test="images">
                <thead>
                    <tr>
                        {header("name", "Name")}
                        {header("status", "Status")}
                        {header("visibility", "Visibility")}
                        <th scope="col">"Protected"</th>
                        {header("disk_format", "Format")}
                        {header("size", "Size")}
                        {header("owner", "Owner")}
                        {header("created_at", "Created")}
                    </tr>
                </thead>
                <tbody>
                    {move || images.get().into_iter().map(|image| {
                        let href = Route::Image { id: image.id.clone(), tab: Tab::Overview }.href();
                        let name = image.name.clone().filter(|n| !n.is_empty())
                            .unwrap_or_else(|| format!("({})", image.id));
                        view! {
                            <tr data-id=image.id.clone()>
                                <td><a href=href>{name}</a></td>
                                <td><StatusBadge status=image.status /></td>
                                <td>{image.visibility.as_str()}</td>
                                <td>{if image.protected { "◆ yes" } else { "no" }}</td>
                                <td>{image.disk_format.clone().unwrap_or_default()}</td>
                                <td class="num">{bytes(image.size)}</td>
                                <td class="mono">{image.owner.clone().unwrap_or_default()}</td>
                                <td>{image.created_at.clone()}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        <p class="muted" data-test="list-state">
            {move || if loading() {
                "Loading…".to_string()
            } else if images.with(Vec::is_empty) {
                "No images match.".to_string()
            } else {
                format!("{} images on this page.", images.with(Vec::len))
            }}
        </p>
        <nav class="pager" aria-label="Pages">
            {has_marker.then(|| view! {
                <a class="button" href=Route::Images(first_page.clone()).href()>"« First page"</a>
            })}
            {move || next.get().map(|marker| {
                let target = with(&next_query, "marker", Some(&marker));
                view! { <a class="button" data-test="next" href=Route::Images(target).href()>"Next page »"</a> }
            })}
        </nav>
    }
}

#[component]
fn Filters(query: Vec<(String, String)>) -> impl IntoView {
    let field = |k: &str| RwSignal::new(get(&query, k));
    let name = field("name");
    let status = field("status");
    let visibility = field("visibility");
    let owner = field("owner");
    let disk_format = field("disk_format");
    let container_format = field("container_format");
    let protected = field("protected");
    let tag = field("tag");
    let props = RwSignal::new(
        query
            .iter()
            .filter(|(k, _)| !KNOWN.contains(&k.as_str()))
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    let base = query.clone();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let mut q: Vec<(String, String)> = base
            .iter()
            .filter(|(k, _)| k == "sort_key" || k == "sort_dir")
            .cloned()
            .collect();
        for (k, s) in [
            ("name", name),
            ("status", status),
            ("visibility", visibility),
            ("owner", owner),
            ("disk_format", disk_format),
            ("container_format", container_format),
            ("protected", protected),
            ("tag", tag),
        ] {
            let v = s.get_untracked();
            if !v.trim().is_empty() {
                q.push((k.into(), v.trim().into()));
            }
        }
        for pair in props.get_untracked().split(',') {
            if let Some((k, v)) = pair.split_once('=') {
                let k = k.trim();
                if !k.is_empty() && !KNOWN.contains(&k) {
                    q.push((k.into(), v.trim().into()));
                }
            }
        }
        route::go(&Route::Images(q));
    };
    let text = |id: &'static str, label: &'static str, s: RwSignal<String>| {
        view! {
            <div class="field">
                <label for=id>{label}</label>
                <input id=id prop:value=move || s.get() on:input=move |ev| s.set(event_target_value(&ev)) />
            </div>
        }
    };
    let choice = |id: &'static str,
                  label: &'static str,
                  s: RwSignal<String>,
                  options: Vec<String>| {
        view! {
            <div class="field">
                <label for=id>{label}</label>
                <select id=id on:change=move |ev| s.set(event_target_value(&ev))>
                    <option value="" selected=move || s.get().is_empty()>"any"</option>
                    {options.into_iter().map(|o| {
                        let selected = o.clone();
                        view! { <option value=o.clone() selected=move || s.get() == selected>{o.clone()}</option> }
                    }).collect_view()}
                </select>
            </div>
        }
    };
    let ctx = Ctx::get();
    let settings = ctx
        .session
        .get_untracked()
        .map(|s| s.settings)
        .unwrap_or_default();
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    view! {
        <form class="filters" on:submit=submit role="search" aria-label="Filter images">
            {text("f-name", "Name", name)}
            {choice("f-status", "Status", status, strings(&["queued", "saving", "active", "deactivated", "killed", "importing", "uploading"]))}
            {choice("f-visibility", "Visibility", visibility, strings(&["all", "public", "private", "shared", "community"]))}
            {text("f-owner", "Owner", owner)}
            {choice("f-disk", "Disk format", disk_format, settings.disk_formats.clone())}
            {choice("f-container", "Container format", container_format, settings.container_formats.clone())}
            {choice("f-protected", "Protected", protected, strings(&["true", "false"]))}
            {text("f-tag", "Tag", tag)}
            <div class="field wide">
                <label for="f-props">"Properties (key=value, comma separated)"</label>
                <input id="f-props" placeholder="os_distro=ubuntu, hw_disk_bus=virtio"
                    prop:value=move || props.get() on:input=move |ev| props.set(event_target_value(&ev)) />
            </div>
            <div class="actions">
                <button type="submit" class="primary">"Filter"</button>
                <a class="button" href="#/images">"Clear"</a>
            </div>
        </form>
    }
}
