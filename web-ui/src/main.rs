//! Glint's browser admin UI.
#![allow(
    clippy::future_not_send,
    reason = "browser futures run on the single JS thread and are never Send"
)]

mod api;

use leptos::prelude::*;

fn main() {
    leptos::mount::mount_to_body(App);
}

#[component]
fn App() -> impl IntoView {
    let health = LocalResource::new(api::health);
    view! {
        <header class="topbar">
            <span class="brand">"Glint"</span>
            <span class="subtitle">"image registry"</span>
        </header>
        <main>
            <h1>"Images"</h1>
            <p class="status">
                "Server: "
                <Suspense fallback=|| "checking…">
                    {move || health.get().map(|r| match r {
                        Ok(s) => view! { <span class="ok">{s}</span> }.into_any(),
                        Err(e) => view! { <span class="error">{e}</span> }.into_any(),
                    })}
                </Suspense>
            </p>
            <p>"Disk formats: " {glint_core::settings::DEFAULT_DISK_FORMATS.join(", ")}</p>
        </main>
    }
}
