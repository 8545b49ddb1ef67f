//! Glint's browser admin UI: a Leptos client-side app that plans every property change with
//! `glint-core`, compiled to wasm, before it sends it.
#![allow(
    clippy::future_not_send,
    reason = "browser futures run on the single JS thread and are never Send"
)]
#![allow(
    unreachable_pub,
    reason = "Leptos' #[component] generates public props types for crate-private components"
)]

mod api;
mod create;
mod detail;
mod history;
mod list;
mod properties;
mod route;
mod upload;
mod widgets;

use leptos::prelude::*;
use leptos::task::spawn_local;

use api::Session;
use route::Route;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}

/// What every page can reach: the logged-in session.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx {
    pub(crate) session: RwSignal<Option<Session>>,
}

impl Ctx {
    pub(crate) fn get() -> Ctx {
        expect_context::<Ctx>()
    }
}

#[component]
fn App() -> impl IntoView {
    let route = route::use_route();
    let session = RwSignal::new(None::<Session>);
    let checked = RwSignal::new(false);
    provide_context(Ctx { session });
    // A session the server ended (401) leads to the login page, whichever call found out.
    api::on_session_end(move || {
        session.set(None);
        route::go(&Route::Login);
    });
    if api::token().is_some() {
        spawn_local(async move {
            match api::whoami().await {
                Ok(s) => session.set(Some(s)),
                Err(_) => route::go(&Route::Login),
            }
            checked.set(true);
        });
    } else {
        checked.set(true);
        if route.get_untracked() != Route::Login {
            route::go(&Route::Login);
        }
    }
    let logout = move |_| {
        spawn_local(async move {
            api::logout().await;
            session.set(None);
            route::go(&Route::Login);
        });
    };
    view! {
        <header class="topbar">
            <a class="brand" href="#/images">"Glint"</a>
            <nav aria-label="Main">
                <a href="#/images">"Images"</a>
                <a href="#/create">"New image"</a>
            </nav>
            <span class="spacer"></span>
            {move || {
                session
                    .get()
                    .map(|s| {
                        view! {
                            <span class="who" data-test="who">
                                <span class="user">{s.user.clone()}</span>
                                " · project "
                                <span class="project">{s.project.clone()}</span>
                                " · "
                                <span class="roles">{s.roles.join(", ")}</span>
                            </span>
                            <button class="link" on:click=logout>
                                "Log out"
                            </button>
                        }
                    })
            }}
        </header>
        <main>
            {move || {
                let r = route.get();
                if !checked.get() {
                    return view! { <p class="muted">"Loading…"</p> }.into_any();
                }
                if session.get().is_none() && r != Route::Login {
                    return login_page().into_any();
                }
                match r {
                    Route::Login => login_page().into_any(),
                    Route::Images(query) => view! { <list::ImageList query=query /> }.into_any(),
                    Route::Create => view! { <create::CreateImage /> }.into_any(),
                    Route::Image { id, tab } => view! { <detail::ImagePage id=id tab=tab /> }.into_any(),
                }
            }}
        </main>
    }
}

fn login_page() -> impl IntoView {
    let ctx = Ctx::get();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            match api::login(&username.get_untracked(), &password.get_untracked()).await {
                Ok(s) => {
                    ctx.session.set(Some(s));
                    route::go(&Route::Images(Vec::new()));
                }
                Err(e) => error.set(Some(e.to_string())),
            }
            busy.set(false);
        });
    };
    view! {
        <section class="card narrow">
            <h1>"Log in"</h1>
            <form on:submit=submit>
                <label for="login-user">"User name"</label>
                <input id="login-user" name="username" autocomplete="username" required
                    prop:value=move || username.get()
                    on:input=move |ev| username.set(event_target_value(&ev)) />
                <label for="login-password">"Password"</label>
                <input id="login-password" name="password" type="password"
                    autocomplete="current-password" required
                    prop:value=move || password.get()
                    on:input=move |ev| password.set(event_target_value(&ev)) />
                <widgets::ErrorBox error=error />
                <button type="submit" class="primary" disabled=move || busy.get()>"Log in"</button>
            </form>
        </section>
    }
}
