//! An image's page: overview (attributes, checksums, tags, visibility, protection,
//! deactivation, download, delete), properties, sharing and history.

use glint_core::Visibility;
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::json;

use crate::Ctx;
use crate::api::{self, Patched, Versioned};
use crate::history::HistoryTab;
use crate::properties::PropertyEditor;
use crate::route::{self, Route, Tab};
use crate::upload::Uploader;
use crate::widgets::{ErrorBox, Modal, StatusBadge, bytes};

#[component]
pub(crate) fn ImagePage(id: String, tab: Tab) -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    let loaded_image = {
        let id = id.clone();
        LocalResource::new(move || {
            let id = id.clone();
            async move { api::get_image(&id).await }
        })
    };
    // The image as this page last read or wrote it: loaded, then replaced by what each change
    // answers, and loaded again on `reload`.
    let current = RwSignal::new(None::<Versioned>);
    Effect::new(move || match loaded_image.get() {
        Some(Ok(v)) => current.set(Some(v)),
        Some(Err(e)) => error.set(Some(e.to_string())),
        None => {}
    });
    let reload = Callback::new(move |()| loaded_image.refetch());
    // The tabs are built once the image is there, not again on every change to it.
    let loaded = Memo::new(move |_| current.with(Option::is_some));
    let tabs = {
        let id = id.clone();
        Tab::ALL
            .into_iter()
            .map(|t| {
                let href = Route::Image { id: id.clone(), tab: t }.href();
                let here = t == tab;
                view! {
                    <a href=href class:active=here aria-current=if here { Some("page") } else { None }
                        data-tab=t.slug()>{t.title()}</a>
                }
            })
            .collect_view()
    };
    view! {
        <p><a href="#/images">"← Images"</a></p>
        <ErrorBox error=error />
        {move || current.get().map(|v| {
            let image = v.image.clone();
            view! {
                <div class="page-head">
                    <h1 data-test="image-name">{image.name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| image.id.clone())}</h1>
                    <StatusBadge status=image.status />
                    {image.protected.then(|| view! { <span class="badge">"◆ protected"</span> })}
                </div>
            }
        })}
        <nav class="tabs" aria-label="Image sections">{tabs}</nav>
        {move || loaded.get().then(|| match tab {
            Tab::Overview => (move || current.get().map(|v| view! { <Overview current=v reload=reload /> })).into_any(),
            Tab::Properties => view! { <PropertyEditor current=current /> }.into_any(),
            Tab::Members => current.get_untracked().map(|v| view! { <Members image=v.image /> }).into_any(),
            Tab::History => view! { <HistoryTab current=current /> }.into_any(),
        })}
    }
}

#[component]
fn Overview(current: Versioned, reload: Callback<()>) -> impl IntoView {
    let ctx = Ctx::get();
    let image = current.image.clone();
    let etag = current.etag.clone();
    let id = image.id.clone();
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);

    // Visibility: four choices, applied as a patch guarded by the version read.
    let visibility = RwSignal::new(image.visibility.as_str().to_string());
    let patch = {
        let id = id.clone();
        move |ops: serde_json::Value| {
            let id = id.clone();
            let etag = etag.clone();
            busy.set(true);
            error.set(None);
            spawn_local(async move {
                match api::patch_image(&id, &ops, etag.as_deref()).await {
                    Ok(Patched::Done(_)) => reload.run(()),
                    Ok(Patched::Stale(_)) => {
                        error.set(Some("The image changed meanwhile; it is shown again as it is now. Try again.".into()));
                        reload.run(());
                    }
                    Err(e) => {
                        error.set(Some(e.to_string()));
                    }
                }
                busy.set(false);
            });
        }
    };
    let set_visibility = {
        let patch = patch.clone();
        move |_| {
            patch(
                json!([{"op": "replace", "path": "/visibility", "value": visibility.get_untracked()}]),
            )
        }
    };
    let protected = image.protected;
    let toggle_protected = {
        let patch = patch.clone();
        move |_| patch(json!([{"op": "replace", "path": "/protected", "value": !protected}]))
    };
    let action = {
        let id = id.clone();
        move |what: &'static str| {
            let id = id.clone();
            busy.set(true);
            error.set(None);
            spawn_local(async move {
                match api::image_action(&id, what).await {
                    Ok(()) => reload.run(()),
                    Err(e) => error.set(Some(e.to_string())),
                }
                busy.set(false);
            });
        }
    };

    // Tags.
    let new_tag = RwSignal::new(String::new());
    let add_tag = {
        let id = id.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let tag = new_tag.get_untracked().trim().to_string();
            if tag.is_empty() {
                return;
            }
            let id = id.clone();
            spawn_local(async move {
                match api::add_tag(&id, &tag).await {
                    Ok(()) => {
                        new_tag.set(String::new());
                        reload.run(());
                    }
                    Err(e) => error.set(Some(e.to_string())),
                }
            });
        }
    };

    // Delete, with a confirmation naming the image.
    let confirm = RwSignal::new(false);
    let label = image
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| image.id.clone());
    let delete = {
        let id = id.clone();
        move |_| {
            let id = id.clone();
            spawn_local(async move {
                match api::delete_image(&id).await {
                    Ok(()) => {
                        confirm.set(false);
                        route::go(&Route::Images(Vec::new()));
                    }
                    Err(e) => {
                        confirm.set(false);
                        error.set(Some(e.to_string()));
                    }
                }
            });
        }
    };

    let status = image.status.as_str();
    let can_upload = status == "queued";
    let deactivated = status == "deactivated";
    let active = status == "active";
    // The deployment's deactivate / reactivate policy, as the server decides it.
    let toggle = if deactivated {
        "reactivate"
    } else {
        "deactivate"
    };
    let may_deactivate = ctx
        .session
        .get_untracked()
        .is_some_and(|s| s.allows(toggle, &image));
    let file = format!("/v2/images/{}/file", image.id);
    let attrs: Vec<(&str, String)> = vec![
        ("ID", image.id.clone()),
        ("Status", status.to_string()),
        ("Visibility", image.visibility.as_str().to_string()),
        ("Owner", image.owner.clone().unwrap_or_default()),
        ("Disk format", image.disk_format.clone().unwrap_or_default()),
        (
            "Container format",
            image.container_format.clone().unwrap_or_default(),
        ),
        ("Size", bytes(image.size)),
        ("Virtual size", bytes(image.virtual_size)),
        ("Minimum disk", format!("{} GB", image.min_disk)),
        ("Minimum RAM", format!("{} MB", image.min_ram)),
        (
            "Hidden",
            if image.os_hidden { "yes" } else { "no" }.to_string(),
        ),
        ("Created", image.created_at.clone()),
        ("Updated", image.updated_at.clone()),
        ("MD5", image.checksum.clone().unwrap_or_else(|| "—".into())),
        (
            "Hash",
            match (&image.os_hash_algo, &image.os_hash_value) {
                (Some(a), Some(v)) => format!("{a}: {v}"),
                _ => "—".into(),
            },
        ),
    ];
    let tags = image.tags.clone();
    let tag_id = id.clone();
    let disk_format = image.disk_format.clone();
    let delete_label = label.clone();
    view! {
        <ErrorBox error=error />
        <div class="columns">
            <section class="card" aria-label="Attributes">
                <h2>"Attributes"</h2>
                <dl class="attrs">
                    {attrs.into_iter().map(|(k, v)| view! { <dt>{k}</dt><dd data-attr=k>{v}</dd> }).collect_view()}
                </dl>
            </section>
            <section class="card" aria-label="Actions">
                <h2>"Visibility"</h2>
                <fieldset class="radios" data-test="visibility">
                    <legend class="sr-only">"Who can see this image"</legend>
                    {[
                        (Visibility::Private, "only this project"),
                        (Visibility::Shared, "this project and its members"),
                        (Visibility::Community, "every project, unlisted"),
                        (Visibility::Public, "every project, listed"),
                    ].into_iter().map(|(v, help)| {
                        let value = v.as_str();
                        view! {
                            <label>
                                <input type="radio" name="visibility" value=value
                                    prop:checked=move || visibility.get() == value
                                    on:change=move |_| visibility.set(value.to_string()) />
                                <strong>{value}</strong> " — " {help}
                            </label>
                        }
                    }).collect_view()}
                </fieldset>
                <button on:click=set_visibility disabled=move || busy.get()>"Change visibility"</button>

                <h2>"Protection and state"</h2>
                <div class="actions">
                    <button data-test="toggle-protected" on:click=toggle_protected disabled=move || busy.get()>
                        {if protected { "Unprotect" } else { "Protect" }}
                    </button>
                    {(may_deactivate && active).then(|| {
                        let action = action.clone();
                        view! { <button data-test="deactivate" on:click=move |_| action("deactivate")>"Deactivate"</button> }
                    })}
                    {(may_deactivate && deactivated).then(|| {
                        let action = action.clone();
                        view! { <button data-test="reactivate" on:click=move |_| action("reactivate")>"Reactivate"</button> }
                    })}
                    {(active || deactivated).then(|| view! {
                        <a class="button" href=file.clone() download="">"↓ Download"</a>
                    })}
                </div>

                <h2>"Tags"</h2>
                <ul class="tags" data-test="tags">
                    {tags.into_iter().map(|t| {
                        let id = tag_id.clone();
                        let shown = t.clone();
                        view! {
                            <li>
                                <span class="tag">{shown}</span>
                                <button class="link" aria-label=format!("Remove tag {t}") on:click=move |_| {
                                    let (id, t) = (id.clone(), t.clone());
                                    spawn_local(async move {
                                        match api::remove_tag(&id, &t).await {
                                            Ok(()) => reload.run(()),
                                            Err(e) => error.set(Some(e.to_string())),
                                        }
                                    });
                                }>"✕"</button>
                            </li>
                        }
                    }).collect_view()}
                </ul>
                <form class="inline" on:submit=add_tag>
                    <label for="new-tag" class="sr-only">"New tag"</label>
                    <input id="new-tag" placeholder="new tag" prop:value=move || new_tag.get()
                        on:input=move |ev| new_tag.set(event_target_value(&ev)) />
                    <button type="submit">"Add tag"</button>
                </form>

                <h2>"Delete"</h2>
                <button class="danger" data-test="delete" disabled=protected
                    title=if protected { "Protected images cannot be deleted: unprotect it first." } else { "" }
                    on:click=move |_| confirm.set(true)>"Delete image…"</button>
                {protected.then(|| view! {
                    <p class="muted" data-test="delete-reason">"◆ Protected images cannot be deleted: unprotect it first."</p>
                })}
            </section>
        </div>
        {can_upload.then(|| view! {
            <section class="card">
                <h2>"Upload data"</h2>
                <p class="muted">"This image has no data yet (or an earlier upload did not finish)."</p>
                <Uploader id=id.clone() disk_format=disk_format.clone() on_done=move |_| reload.run(()) />
            </section>
        })}
        <Modal open=confirm title="Delete image".to_string()>
            <p data-test="confirm-text">
                "Delete image " <strong>{delete_label.clone()}</strong> "? Its data and metadata go; this cannot be undone."
            </p>
            <div class="actions">
                <button class="danger" data-test="confirm-delete" on:click=delete.clone()>"Delete"</button>
                <button autofocus on:click=move |_| confirm.set(false)>"Cancel"</button>
            </div>
        </Modal>
    }
}

#[component]
fn Members(image: glint_core::Image) -> impl IntoView {
    let ctx = Ctx::get();
    let id = image.id.clone();
    let members = RwSignal::new(Vec::<api::Member>::new());
    let error = RwSignal::new(None::<String>);
    let me = ctx.session.get_untracked().and_then(|s| s.project_id);
    let owner = image.owner.clone();
    let is_owner = me.is_some() && me == owner;
    let load = {
        let id = id.clone();
        Callback::new(move |()| {
            let id = id.clone();
            spawn_local(async move {
                match api::members(&id).await {
                    Ok(m) => members.set(m),
                    Err(e) => error.set(Some(e.to_string())),
                }
            });
        })
    };
    load.run(());
    let project = RwSignal::new(String::new());
    let add = {
        let id = id.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let p = project.get_untracked().trim().to_string();
            if p.is_empty() {
                return;
            }
            let id = id.clone();
            spawn_local(async move {
                match api::add_member(&id, &p).await {
                    Ok(()) => {
                        project.set(String::new());
                        error.set(None);
                        load.run(());
                    }
                    Err(e) => error.set(Some(e.to_string())),
                }
            });
        }
    };
    let shared = image.visibility == Visibility::Shared;
    view! {
        <section class="card">
            <h2>"Sharing"</h2>
            {(!shared).then(|| view! {
                <p class="muted">"Members see the image only when its visibility is "<strong>"shared"</strong>"."</p>
            })}
            <ErrorBox error=error />
            <table class="members" data-test="members">
                <thead><tr><th scope="col">"Project"</th><th scope="col">"Status"</th><th scope="col">"Updated"</th><th scope="col">"Actions"</th></tr></thead>
                <tbody>
                    {move || members.get().into_iter().map(|m| {
                        let id = id.clone();
                        let mine = me.as_deref() == Some(m.member_id.as_str());
                        let member = m.member_id.clone();
                        let act = move |status: &'static str| {
                            let (id, member) = (id.clone(), member.clone());
                            move |_| {
                                let (id, member) = (id.clone(), member.clone());
                                spawn_local(async move {
                                    let r = if status == "remove" {
                                        api::remove_member(&id, &member).await
                                    } else {
                                        api::set_member_status(&id, &member, status).await
                                    };
                                    match r {
                                        Ok(()) => load.run(()),
                                        Err(e) => error.set(Some(e.to_string())),
                                    }
                                });
                            }
                        };
                        view! {
                            <tr data-member=m.member_id.clone()>
                                <td class="mono">{m.member_id.clone()}</td>
                                <td>{m.status.clone()}</td>
                                <td>{m.updated_at.clone().unwrap_or_default()}</td>
                                <td class="actions">
                                    {mine.then(|| view! {
                                        <button on:click=act("accepted")>"Accept"</button>
                                        <button on:click=act("rejected")>"Reject"</button>
                                    })}
                                    {is_owner.then(|| view! {
                                        <button class="danger" on:click=act("remove")>"Remove"</button>
                                    })}
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
            {is_owner.then(|| view! {
                <form class="inline" on:submit=add>
                    <label for="member-project">"Share with project (id)"</label>
                    <input id="member-project" prop:value=move || project.get()
                        on:input=move |ev| project.set(event_target_value(&ev)) />
                    <button type="submit">"Add member"</button>
                </form>
            })}
        </section>
    }
}
