//! `GET /v2/images`: Glance's filters, sorting and marker paging.

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::Identity;
use super::wire::image_json;
use crate::db::{ImageFilter, ListQuery, SortDir, SortKey};
use crate::time;
use glint_core::{Status, Visibility};

const DEFAULT_LIMIT: i64 = 25;
const MAX_LIMIT: i64 = 1000;

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::BadRequest(message.into())
}

/// Splits `in:a,b,"c,d"` into its values; a plain value is one value.
fn in_values(raw: &str) -> Result<Vec<String>, ApiError> {
    let Some(list) = raw.strip_prefix("in:") else {
        if raw.contains(':') {
            let op = raw.split(':').next().unwrap_or_default();
            if matches!(op, "gt" | "gte" | "lt" | "lte" | "eq" | "neq" | "nin") {
                return Err(bad(format!("Unable to filter by unknown operator '{op}'.")));
            }
        }
        return Ok(vec![raw.to_string()]);
    };
    let mut values = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in list.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => values.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    if quoted {
        return Err(bad("Unbalanced quotes in an 'in:' filter."));
    }
    values.push(current);
    Ok(values)
}

fn bool_param(name: &str, v: &str) -> Result<bool, ApiError> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad(format!(
            "Invalid value '{v}' for '{name}': expected 'true' or 'false'."
        ))),
    }
}

fn int_param(name: &str, v: &str) -> Result<i64, ApiError> {
    v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
        bad(format!(
            "Invalid value '{v}' for '{name}': expected a non-negative integer."
        ))
    })
}

fn time_filter(name: &'static str, raw: &str) -> Result<Vec<ImageFilter>, ApiError> {
    let (op, value) = match raw.split_once(':') {
        Some((op, rest)) if matches!(op, "gt" | "gte" | "lt" | "lte" | "eq" | "neq") => (op, rest),
        _ => ("eq", raw),
    };
    let t = time::parse(value).ok_or_else(|| {
        bad(format!(
            "Invalid time '{value}' for '{name}': expected ISO 8601."
        ))
    })?;
    // Stored times have microseconds; the API shows whole seconds, so `eq` means that second.
    let second = t - t.rem_euclid(1_000_000);
    let next = second + 1_000_000;
    Ok(match op {
        "gt" => vec![ImageFilter::Time(name, ">=", next)],
        "gte" => vec![ImageFilter::Time(name, ">=", second)],
        "lt" => vec![ImageFilter::Time(name, "<", second)],
        "lte" => vec![ImageFilter::Time(name, "<", next)],
        "neq" => vec![ImageFilter::TimeOutside(name, second, next)],
        _ => vec![
            ImageFilter::Time(name, ">=", second),
            ImageFilter::Time(name, "<", next),
        ],
    })
}

/// The parsed query string, and the query string to repeat in `first` / `next` links.
struct Parsed {
    query: ListQuery,
    marker_id: Option<String>,
    passthrough: Vec<(String, String)>,
}

fn parse(raw: &str, identity: &Identity, admin: bool) -> Result<Parsed, ApiError> {
    let caller = &identity.caller;
    let mut filters = Vec::new();
    let mut limit = DEFAULT_LIMIT;
    let mut marker_id = None;
    let mut sort_keys: Vec<String> = Vec::new();
    let mut sort_dirs: Vec<String> = Vec::new();
    let mut sort_param: Option<String> = None;
    let mut os_hidden = Some(false);
    let mut member_status = Some("accepted".to_string());
    let mut community = false;
    let mut passthrough = Vec::new();
    for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
        let (key, value) = (key.into_owned(), value.into_owned());
        if key != "marker" {
            passthrough.push((key.clone(), value.clone()));
        }
        match key.as_str() {
            "limit" => {
                limit = value
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| bad("limit param must be a non-negative integer"))?
                    .min(MAX_LIMIT);
            }
            "marker" => marker_id = Some(value),
            "sort_key" => sort_keys.push(value),
            "sort_dir" => sort_dirs.push(value),
            "sort" => sort_param = Some(value),
            "name" | "id" | "status" | "container_format" | "disk_format" => {
                let column = match key.as_str() {
                    "name" => "name",
                    "id" => "id",
                    "status" => "status",
                    "container_format" => "container_format",
                    _ => "disk_format",
                };
                let values = in_values(&value)?;
                if column == "status" {
                    for v in &values {
                        if Status::parse(v).is_none() {
                            return Err(bad(format!("Invalid status value: {v}")));
                        }
                    }
                }
                filters.push(ImageFilter::In(column, values));
            }
            "owner" | "checksum" | "os_hash_value" => {
                let column = match key.as_str() {
                    "owner" => "owner",
                    "checksum" => "checksum",
                    _ => "os_hash_value",
                };
                filters.push(ImageFilter::In(column, vec![value]));
            }
            "created_at" => filters.extend(time_filter("created_at", &value)?),
            "updated_at" => filters.extend(time_filter("updated_at", &value)?),
            "size" => filters.push(ImageFilter::Int("size", "=", int_param("size", &value)?)),
            "virtual_size" => filters.push(ImageFilter::Int(
                "virtual_size",
                "=",
                int_param("virtual_size", &value)?,
            )),
            "size_min" => filters.push(ImageFilter::Int(
                "size",
                ">=",
                int_param("size_min", &value)?,
            )),
            "size_max" => filters.push(ImageFilter::Int(
                "size",
                "<=",
                int_param("size_max", &value)?,
            )),
            "min_ram" => filters.push(ImageFilter::Int(
                "min_ram",
                "=",
                int_param("min_ram", &value)?,
            )),
            "min_disk" => filters.push(ImageFilter::Int(
                "min_disk",
                "=",
                int_param("min_disk", &value)?,
            )),
            "tag" => filters.push(ImageFilter::Tag(value)),
            "protected" => filters.push(ImageFilter::Flag(
                "protected",
                bool_param("protected", &value)?,
            )),
            // openstacksdk sends `os_hidden=True`; Glance reads this one leniently.
            "os_hidden" => os_hidden = Some(bool_param("os_hidden", &value.to_ascii_lowercase())?),
            "visibility" => match value.as_str() {
                "all" => community = true,
                v => {
                    let vis = Visibility::parse(v)
                        .ok_or_else(|| bad(format!("Invalid visibility value: {v}")))?;
                    community |= vis == Visibility::Community;
                    filters.push(ImageFilter::Visibility(vis));
                }
            },
            "member_status" => match value.as_str() {
                "all" => member_status = None,
                "pending" | "accepted" | "rejected" => member_status = Some(value),
                v => return Err(bad(format!("Invalid status value: {v}"))),
            },
            "changes-since" => {
                return Err(bad(
                    "The changes-since filter is no longer available on v2.",
                ));
            }
            _ => filters.push(ImageFilter::Property(key, value)),
        }
    }
    if let Some(hidden) = os_hidden {
        filters.push(ImageFilter::Flag("os_hidden", hidden));
    }
    let sort = sort_spec(sort_param.as_deref(), &sort_keys, &sort_dirs)?;
    Ok(Parsed {
        query: ListQuery {
            filters,
            sort,
            limit,
            marker: None,
            project: caller.project_id.clone(),
            admin,
            member_status,
            community,
        },
        marker_id,
        passthrough,
    })
}

fn dir(s: &str) -> Result<SortDir, ApiError> {
    match s {
        "asc" => Ok(SortDir::Asc),
        "desc" => Ok(SortDir::Desc),
        _ => Err(bad(format!("Invalid sort direction: {s}"))),
    }
}

fn key(s: &str) -> Result<SortKey, ApiError> {
    SortKey::parse(s).ok_or_else(|| bad(format!("Invalid sort key: {s}. It is not allowed.")))
}

fn sort_spec(
    sort: Option<&str>,
    keys: &[String],
    dirs: &[String],
) -> Result<Vec<(SortKey, SortDir)>, ApiError> {
    let mut spec = Vec::new();
    if let Some(sort) = sort {
        if !keys.is_empty() || !dirs.is_empty() {
            return Err(bad(
                "The 'sort' parameter cannot be combined with 'sort_key' or 'sort_dir'.",
            ));
        }
        for item in sort.split(',').map(str::trim) {
            let (k, d) = match item.split_once(':') {
                Some((k, d)) => (k, dir(d)?),
                None => (item, SortDir::Desc),
            };
            spec.push((key(k)?, d));
        }
    } else {
        if dirs.len() > 1 && dirs.len() != keys.len() {
            return Err(bad(
                "The number of sort_dir values must be one or match the number of sort_key values.",
            ));
        }
        for (i, k) in keys.iter().enumerate() {
            let d = match dirs.len() {
                0 => SortDir::Desc,
                1 => dir(&dirs[0])?,
                _ => dir(&dirs[i])?,
            };
            spec.push((key(k)?, d));
        }
        if keys.is_empty() && dirs.len() > 1 {
            return Err(bad("sort_dir given without sort_key."));
        }
        if keys.is_empty() {
            let d = match dirs.first() {
                Some(d) => dir(d)?,
                None => SortDir::Desc,
            };
            spec.push((SortKey::CreatedAt, d));
        }
    }
    // Tie-breakers make the order total, so marker paging never skips or repeats an image.
    let last_dir = spec.last().map(|(_, d)| *d).unwrap_or(SortDir::Desc);
    for tie in [SortKey::CreatedAt, SortKey::Id] {
        if !spec.iter().any(|(k, _)| *k == tie) {
            spec.push((tie, last_dir));
        }
    }
    Ok(spec)
}

fn link(params: &[(String, String)], marker: Option<&str>) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    if let Some(m) = marker {
        s.append_pair("marker", m);
    }
    let q = s.finish();
    if q.is_empty() {
        "/v2/images".into()
    } else {
        format!("/v2/images?{q}")
    }
}

pub(crate) async fn list_images(
    State(state): State<AppState>,
    identity: Identity,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let rules = &state.images.rules;
    if !rules.allows_here("get_images", &identity.caller) {
        return Err(crate::access::refused("get_images").into());
    }
    let Parsed {
        mut query,
        marker_id,
        passthrough,
    } = parse(
        uri.query().unwrap_or_default(),
        &identity,
        rules.is_admin(&identity.caller),
    )?;
    if let Some(marker) = &marker_id {
        let found = match glint_core::image::is_uuid(marker) {
            true => state.db.image(&marker.to_ascii_lowercase()).await?,
            false => None,
        };
        match found {
            Some(m) => query.marker = Some(m),
            None => return Err(bad(format!("No image found with ID {marker}"))),
        }
    }
    let images = state.db.list_images(&query).await?;
    // The next page starts after what the query found, shown or not.
    let next =
        match query.limit > 0 && i64::try_from(images.len()).unwrap_or(i64::MAX) == query.limit {
            true => images
                .last()
                .map(|last| link(&passthrough, Some(&last.image.id))),
            false => None,
        };
    let settings = &state.images.settings;
    let mut body = json!({
        "images": crate::access::listed(rules, &identity.caller, images)
            .iter()
            .map(|s| image_json(&state.shown(&identity.caller, &s.image), settings))
            .collect::<Vec<_>>(),
        "first": link(&passthrough, None),
        "schema": "/v2/schemas/images",
    });
    if let Some(next) = next {
        body["next"] = Value::String(next);
    }
    Ok(Json(body))
}
