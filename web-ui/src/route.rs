//! Where the UI is, kept in the URL's fragment so that every view can be bookmarked, shared and
//! reached with the browser's back button: `#/images?name=x&sort_key=name`, `#/images/{id}/properties`.

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;

/// A view and its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    Login,
    /// The image list, with its query (filters, sort, marker) as the API takes it.
    Images(Vec<(String, String)>),
    Create,
    Image {
        id: String,
        tab: Tab,
    },
}

/// The tabs of an image's page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tab {
    Overview,
    Properties,
    Members,
    History,
}

impl Tab {
    pub(crate) const ALL: [Tab; 4] = [Tab::Overview, Tab::Properties, Tab::Members, Tab::History];

    pub(crate) fn slug(self) -> &'static str {
        match self {
            Tab::Overview => "overview",
            Tab::Properties => "properties",
            Tab::Members => "members",
            Tab::History => "history",
        }
    }

    pub(crate) fn title(self) -> &'static str {
        match self {
            Tab::Overview => "Overview",
            Tab::Properties => "Properties",
            Tab::Members => "Sharing",
            Tab::History => "History",
        }
    }
}

impl Route {
    pub(crate) fn parse(hash: &str) -> Route {
        let hash = hash.trim_start_matches('#');
        let (path, query) = hash.split_once('?').unwrap_or((hash, ""));
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        match parts.as_slice() {
            ["login"] => Route::Login,
            ["create"] => Route::Create,
            ["images", id] => Route::Image {
                id: decode(id),
                tab: Tab::Overview,
            },
            ["images", id, tab] => Route::Image {
                id: decode(id),
                tab: Tab::ALL
                    .into_iter()
                    .find(|t| t.slug() == *tab)
                    .unwrap_or(Tab::Overview),
            },
            _ => Route::Images(decode_query(query)),
        }
    }

    pub(crate) fn href(&self) -> String {
        match self {
            Route::Login => "#/login".into(),
            Route::Create => "#/create".into(),
            Route::Images(q) if q.is_empty() => "#/images".into(),
            Route::Images(q) => format!("#/images?{}", encode_query(q)),
            Route::Image {
                id,
                tab: Tab::Overview,
            } => format!("#/images/{}", encode(id)),
            Route::Image { id, tab } => format!("#/images/{}/{}", encode(id), tab.slug()),
        }
    }
}

pub(crate) fn encode(s: &str) -> String {
    String::from(js_sys::encode_uri_component(s))
}

pub(crate) fn decode(s: &str) -> String {
    js_sys::decode_uri_component(&s.replace('+', " "))
        .map(String::from)
        .unwrap_or_else(|_| s.to_string())
}

pub(crate) fn encode_query(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub(crate) fn decode_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn current_hash() -> String {
    window().location().hash().unwrap_or_default()
}

/// The current route, following the URL.
pub(crate) fn use_route() -> ReadSignal<Route> {
    let (route, set_route) = signal(Route::parse(&current_hash()));
    let on_change =
        Closure::<dyn FnMut()>::new(move || set_route.set(Route::parse(&current_hash())));
    window().set_onhashchange(Some(on_change.as_ref().unchecked_ref()));
    on_change.forget();
    route
}

/// Goes to a route (a new entry in the browser's history).
pub(crate) fn go(route: &Route) {
    let _ = window().location().set_hash(&route.href());
}
