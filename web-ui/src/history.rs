//! An image's property history: every change with who made it, every removed value with its
//! `deleted_at`, and restoring removed values through the same review as any other update.

use std::collections::BTreeSet;

use glint_core::Plan;
use leptos::prelude::*;

use crate::api::{self, Patched, Versioned};
use crate::widgets::{ErrorBox, PlanView};

#[component]
pub(crate) fn HistoryTab(current: RwSignal<Option<Versioned>>) -> impl IntoView {
    // The server shows history to those the get_image_history policy allows (by default
    // those who may change the image); the session decides with the same rules.
    let may_see = crate::Ctx::get().session.get_untracked().is_some_and(|s| {
        current
            .get_untracked()
            .is_some_and(|v| s.allows("get_image_history", &v.image))
    });
    if !may_see {
        return view! {
            <p class="notice" data-test="history-closed">
                "An image's history, with the values removed from it, is for those the \
                 deployment's get_image_history policy allows (by default those who may change \
                 it: members of its owner project and administrators)."
            </p>
        }
        .into_any();
    }
    let id = current
        .get_untracked()
        .map(|v| v.image.id)
        .unwrap_or_default();
    let error = RwSignal::new(None::<String>);
    let selected = RwSignal::new(BTreeSet::<String>::new());
    let done = RwSignal::new(None::<String>);
    // The history, loaded again after each restore.
    let history = {
        let id = id.clone();
        LocalResource::new(move || {
            let id = id.clone();
            async move { api::history(&id).await }
        })
    };
    let shown = move || history.get().and_then(Result::ok);
    Effect::new(move || {
        if let Some(Err(e)) = history.get() {
            error.set(Some(e.to_string()));
        }
    });

    // Reviewing a restore: the plan the server would apply, and the version it was made on.
    let review_restore = {
        let id = id.clone();
        Action::new_local(move |keys: &Vec<String>| {
            let (id, keys) = (id.clone(), keys.clone());
            async move { api::preview_restore(&id, &keys).await }
        })
    };
    let review = RwSignal::new(None::<(Plan, Option<String>)>);
    Effect::new(move || match review_restore.value().get() {
        Some(Ok(r)) => review.set(Some(r)),
        Some(Err(e)) => error.set(Some(e.to_string())),
        None => {}
    });
    let preview = move |_| {
        let keys: Vec<String> = selected.get_untracked().into_iter().collect();
        if keys.is_empty() {
            error.set(Some("Select the removed values to restore.".into()));
            return;
        }
        error.set(None);
        done.set(None);
        review_restore.dispatch(keys);
    };

    // Restoring, guarded by the version the review was made on.
    let apply_restore = {
        let id = id.clone();
        Action::new_local(move |(keys, etag): &(Vec<String>, Option<String>)| {
            let (id, keys, etag) = (id.clone(), keys.clone(), etag.clone());
            async move {
                (
                    keys.clone(),
                    api::restore(&id, &keys, etag.as_deref()).await,
                )
            }
        })
    };
    Effect::new(move || {
        let Some((keys, result)) = apply_restore.value().get() else {
            return;
        };
        match result {
            Ok(Patched::Done(v)) => {
                done.set(Some(format!("✓ Restored {}.", keys.join(", "))));
                current.set(Some(*v));
                review.set(None);
                selected.set(BTreeSet::new());
                history.refetch();
            }
            Ok(Patched::Stale(_)) => {
                error.set(Some(
                    "The image changed after the review; review the restore again.".into(),
                ));
                review.set(None);
                history.refetch();
            }
            Err(e) => error.set(Some(e.to_string())),
        }
    });
    let restore = move |_| {
        let keys: Vec<String> = selected.get_untracked().into_iter().collect();
        let etag = review.get_untracked().and_then(|(_, e)| e);
        apply_restore.dispatch((keys, etag));
    };

    view! {
        <section class="card" aria-label="History">
            <h2>"Property values"</h2>
            <ErrorBox error=error />
            {move || done.get().map(|d| view! { <p class="ok" role="status" data-test="restored">{d}</p> })}
            <table class="history-props" data-test="history-props">
                <thead><tr>
                    <th scope="col">"Restore"</th><th scope="col">"Key"</th><th scope="col">"Value"</th>
                    <th scope="col">"State"</th><th scope="col">"Updated"</th><th scope="col">"Deleted at"</th>
                </tr></thead>
                <tbody>
                    {move || shown().map(|h| h.properties.into_iter().map(|row| {
                        let key = row.name.clone();
                        let k2 = key.clone();
                        view! {
                            <tr data-key=row.name.clone() data-deleted=row.deleted.to_string() class:removed=row.deleted>
                                <td>{row.deleted.then(|| {
                                    let k = key.clone();
                                    view! {
                                        <input type="checkbox" data-test="pick" aria-label=format!("Restore {k}")
                                            prop:checked=move || selected.with(|s| s.contains(&k2))
                                            on:change=move |ev| {
                                                let on = event_target_checked(&ev);
                                                let k = k.clone();
                                                selected.update(|s| { if on { s.insert(k); } else { s.remove(&k); } });
                                                review.set(None);
                                            } />
                                    }
                                })}</td>
                                <td><code>{row.name.clone()}</code></td>
                                <td>{row.value.clone()}</td>
                                <td>{if row.deleted { "− removed" } else { "● current" }}</td>
                                <td>{row.updated_at.clone()}</td>
                                <td>{match (&row.deleted_at, row.deleted_at_unknown) {
                                    (Some(at), _) => at.clone(),
                                    (None, true) => "unknown (before Glance kept it)".to_string(),
                                    (None, false) => String::new(),
                                }}</td>
                            </tr>
                        }
                    }).collect_view())}
                </tbody>
            </table>
            <div class="actions">
                <button data-test="review-restore" disabled=move || review_restore.pending().get()
                    on:click=preview>"Review restore"</button>
            </div>
            {move || review.get().map(|(plan, _)| {
                let allowed = plan.is_allowed() && !plan.is_noop();
                view! {
                    <section class="review" aria-label="Restore review">
                        <PlanView plan=plan />
                        <button class="primary" data-test="restore"
                            disabled=move || !allowed || apply_restore.pending().get() on:click=restore>"Restore"</button>
                    </section>
                }
            })}
            <h2>"Changes"</h2>
            <ol class="changes-log" reversed data-test="changes">
                {move || shown().map(|h| h.changes.into_iter().rev().map(|c| {
                    let summary = format!(
                        "{} added, {} changed, {} removed{}",
                        c.added.len(), c.changed.len(), c.removed.len(),
                        if c.purge { " (replace all)" } else { "" }
                    );
                    let removed: Vec<String> = c.removed.keys().cloned().collect();
                    view! {
                        <li data-change-id=c.id.to_string()>
                            <strong>{c.action.clone()}</strong> " · " {c.changed_at.clone()}
                            " · by " {c.user_id.clone().or(c.project_id.clone()).unwrap_or_else(|| "?".into())}
                            " · " {summary}
                            {(!removed.is_empty()).then(|| view! {
                                <span class="muted">" · removed: " {removed.join(", ")}</span>
                            })}
                        </li>
                    }
                }).collect_view())}
            </ol>
        </section>
    }
    .into_any()
}
