//! Who may do what to an image: the one place access is decided. The deployment's policy rules
//! (Glance 33's secure-RBAC defaults, the operator's `policy.yaml` over them, core's `policy`
//! language), plus what Glance's database layer adds to them (visibility, which needs
//! membership; the memberships and tasks a caller is handed). Callers below the HTTP API load images through the
//! functions here, so an operation cannot forget a check; what of an image a caller may see is
//! decided by core's `readable` and `readable_plan`.

use glint_core::{Caller, Image, Visibility};
use thiserror::Error;

use crate::db::{Db, DbError, StoredImage};

/// Why an image was not handed over.
#[derive(Debug, Error)]
pub(crate) enum Denied {
    /// The caller may not see the image (or there is none): Glance answers 404 either way.
    #[error("No image found with ID {0}")]
    NotFound(String),
    /// The caller sees the image but may not do this (the sentence says what).
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Whether the caller may see an image at all: the `get_image` policy on the image, and what
/// Glance's database adds to it: an administrator (`context_is_admin`) sees every image, others
/// their project's, public and community images, and shared ones their project is a member of.
pub(crate) async fn visible(
    db: &Db,
    rules: &Rules,
    caller: &Caller,
    image: &Image,
) -> Result<bool, DbError> {
    if !rules.allows("get_image", caller, Some(image)) {
        return Ok(false);
    }
    if rules.is_admin(caller)
        || caller.owns(image.owner.as_deref())
        || matches!(image.visibility, Visibility::Public | Visibility::Community)
    {
        return Ok(true);
    }
    match (&caller.project_id, image.visibility) {
        (Some(project), Visibility::Shared) => db.is_member(&image.id, project).await,
        _ => Ok(false),
    }
}

/// Of the images a list query found (Glance's `get_image` with visibility, applied by the
/// query), those an operator's narrower `get_image` still lets the caller see; with Glance's
/// rule, all of them, unchecked.
pub(crate) fn listed(
    rules: &Rules,
    caller: &Caller,
    mut found: Vec<StoredImage>,
) -> Vec<StoredImage> {
    if rules.overrides("get_image") {
        let policy = rules.current();
        let creds = policy.credentials(caller);
        found.retain(|s| {
            let target = glint_core::policy::image_target(caller, &s.image);
            policy.allows("get_image", &creds, &target)
        });
    }
    found
}

/// Which memberships of an image Glance's database hands over: an administrator and the owner
/// project see every member, a member project its own membership.
pub(crate) fn sees_member(
    rules: &Rules,
    caller: &Caller,
    image_owner: Option<&str>,
    member: &str,
) -> bool {
    rules.is_admin(caller)
        || caller.owns(image_owner)
        || caller.project_id.as_deref() == Some(member)
}

/// Whether the caller sees a task of an image it sees: those who may change the image (the
/// `modify_image` policy) see all of its tasks, others their own project's (a task's input can
/// carry what only its maker should read, such as a signed web-download URL).
pub(crate) fn sees_image_task(
    rules: &Rules,
    caller: &Caller,
    image: &Image,
    task_owner: Option<&str>,
) -> bool {
    rules.allows("modify_image", caller, Some(image)) || caller.owns(task_owner)
}

/// Whether the caller sees a task through the tasks API: an administrator every task, others
/// their project's (Glance's database filter, under the `tasks_api_access` policy).
pub(crate) fn sees_task(rules: &Rules, caller: &Caller, task_owner: Option<&str>) -> bool {
    rules.is_admin(caller) || caller.owns(task_owner)
}

/// The refusal for a policy that does not allow the caller.
pub(crate) fn refused(policy: &str) -> Denied {
    Denied::Forbidden(format!(
        "You are not authorized to complete {policy} action."
    ))
}

/// The id as images are stored (lower-case), or `NotFound` for anything that is not an id.
pub(crate) fn image_id(id: &str) -> Result<String, Denied> {
    if glint_core::image::is_uuid(id) {
        Ok(id.to_ascii_lowercase())
    } else {
        Err(Denied::NotFound(id.to_string()))
    }
}

/// An image the caller may see.
pub(crate) async fn load_visible(
    db: &Db,
    rules: &Rules,
    caller: &Caller,
    id: &str,
) -> Result<StoredImage, Denied> {
    let id = image_id(id)?;
    match db.image(&id).await? {
        Some(s) if visible(db, rules, caller, &s.image).await? => Ok(s),
        _ => Err(Denied::NotFound(id)),
    }
}

/// An image the caller sees, handed over only if `allowed` says it may do more with it:
/// forbidden (with `refusal`) when it sees the image but may not.
async fn load_if(
    db: &Db,
    rules: &Rules,
    caller: &Caller,
    id: &str,
    allowed: impl FnOnce(&Image) -> bool,
    refusal: &str,
) -> Result<StoredImage, Denied> {
    let stored = load_visible(db, rules, caller, id).await?;
    if allowed(&stored.image) {
        Ok(stored)
    } else {
        Err(Denied::Forbidden(refusal.to_string()))
    }
}

/// An image the caller may change as `policy` (`modify_image`, `delete_image`,
/// `upload_image`, ...) says: not found if they cannot see it, forbidden (naming the policy) if
/// they only can.
pub(crate) async fn load_writable(
    db: &Db,
    rules: &Rules,
    caller: &Caller,
    id: &str,
    policy: &str,
) -> Result<StoredImage, Denied> {
    load_by_policy(db, rules, caller, id, policy).await
}

/// An image whose data the caller may download (the `download_image` policy).
pub(crate) async fn load_downloadable(
    db: &Db,
    rules: &Rules,
    caller: &Caller,
    id: &str,
) -> Result<StoredImage, Denied> {
    load_by_policy(db, rules, caller, id, "download_image").await
}

/// An image the caller sees and on which `policy` allows it (forbidden, naming the policy,
/// when it sees the image but may not).
pub(crate) async fn load_by_policy(
    db: &Db,
    rules: &Rules,
    caller: &Caller,
    id: &str,
    policy: &str,
) -> Result<StoredImage, Denied> {
    load_if(
        db,
        rules,
        caller,
        id,
        |image| rules.allows(policy, caller, Some(image)),
        &format!("You are not authorized to complete {policy} action."),
    )
    .await
}

/// What the caller may do with metadata definitions, as Glance's metadef policies decide it.
/// A refused action is `Forbidden` when the caller may read the namespace (or, with no
/// namespace, namespaces of its project), `NotFound` otherwise, as Glance hides what a caller
/// cannot read.
pub(crate) enum MetadefVerdict {
    Allowed,
    Forbidden,
    NotFound,
}

/// Whether `policy` lets the caller act on the namespace of `owner` and `visibility`, or, with
/// no namespace, on metadata definitions of its own project (listing, creating).
pub(crate) fn metadef_verdict(
    rules: &Rules,
    caller: &Caller,
    policy: &str,
    namespace: Option<(Option<&str>, &str)>,
) -> MetadefVerdict {
    let target = match namespace {
        Some((owner, visibility)) => glint_core::policy::namespace_target(owner, visibility),
        None => glint_core::policy::project_target(caller),
    };
    let current = rules.current();
    let creds = current.credentials(caller);
    if current.allows(policy, &creds, &target) {
        MetadefVerdict::Allowed
    } else if current.allows("get_metadef_namespace", &creds, &target) {
        MetadefVerdict::Forbidden
    } else {
        MetadefVerdict::NotFound
    }
}

/// Whether the metadata definitions listing shows every namespace (administrators, as Glance's
/// database decides) or only the public ones and the caller's project's.
pub(crate) fn sees_every_namespace(rules: &Rules, caller: &Caller) -> bool {
    rules.is_admin(caller)
}

/// Who a notification's payload is shown to: the services that consume them (Ceilometer and
/// the like) read as an administrator with the `service` role, under the property protections.
/// The deployment itself, changing an image on its own rules (properties injected into an
/// import): an administrator of no project.
pub(crate) fn deployment() -> Caller {
    Caller::new(None, &["admin"])
}

pub(crate) fn notification_receiver() -> Caller {
    Caller::new(None, &["admin", "service"])
}

/// The deployment's policy rules (Glance's defaults, with the operator's `--policy-file` over
/// them), read again when the file changes, as oslo.policy does.
#[derive(Debug)]
pub(crate) struct Rules {
    file: Option<std::path::PathBuf>,
    state: std::sync::RwLock<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    policy: std::sync::Arc<glint_core::policy::Policy>,
    /// The operator's rules as the file states them (what the web UI plans with).
    overrides: std::sync::Arc<Vec<(String, String)>>,
    modified: Option<std::time::SystemTime>,
    checked: std::time::Instant,
}

/// The policies the web UI decides with: those core's plans judge, and the UI's own offers.
const PLANNED: [&str; 10] = [
    "add_image",
    "publicize_image",
    "communitize_image",
    "set_image_location",
    "delete_image_location",
    "context_is_admin",
    "get_image_history",
    "restore_image_history",
    "deactivate",
    "reactivate",
];

/// A changed policy file is noticed within this long.
const RECHECK: std::time::Duration = std::time::Duration::from_secs(1);

impl Rules {
    /// Glance's defaults with `file`'s rules over them; a file that cannot be read or holds a
    /// rule that cannot be parsed stops the start.
    pub(crate) fn load(file: Option<&std::path::Path>) -> Result<Rules, String> {
        let Some(file) = file else {
            return Ok(Rules::defaults());
        };
        let (policy, overrides, modified) = read_rules(file)?;
        tracing::info!(
            "policy rules from {} over Glance's defaults",
            file.display()
        );
        Ok(Rules::with(
            Some(file.to_path_buf()),
            policy,
            overrides,
            modified,
        ))
    }

    /// Glance's defaults alone.
    pub(crate) fn defaults() -> Rules {
        Rules::with(
            None,
            glint_core::policy::Policy::glance_defaults(),
            Vec::new(),
            None,
        )
    }

    fn with(
        file: Option<std::path::PathBuf>,
        policy: glint_core::policy::Policy,
        overrides: Vec<(String, String)>,
        modified: Option<std::time::SystemTime>,
    ) -> Rules {
        Rules {
            file,
            state: std::sync::RwLock::new(Loaded {
                policy: std::sync::Arc::new(policy),
                overrides: std::sync::Arc::new(overrides),
                modified,
                checked: std::time::Instant::now(),
            }),
        }
    }

    /// Of the operator's rules as its file states them (none without a file), those the web
    /// UI plans with (`PLANNED`) and the rules they refer to: the browser decides what the
    /// server will, and learns nothing else of the file.
    pub(crate) fn planning_rules(&self) -> Vec<(String, String)> {
        let current = self.current();
        let wanted = current.referenced(PLANNED);
        let stated = match self.state.read() {
            Ok(s) => s.overrides.clone(),
            Err(poisoned) => poisoned.into_inner().overrides.clone(),
        };
        stated
            .iter()
            .filter(|(name, _)| wanted.contains(name))
            .cloned()
            .collect()
    }

    /// The rules now: the file is read again when it changed (a file that no longer parses
    /// leaves the rules as they were, and says why).
    pub(crate) fn current(&self) -> std::sync::Arc<glint_core::policy::Policy> {
        let stale = self
            .state
            .read()
            .map(|s| s.checked.elapsed() >= RECHECK)
            .unwrap_or(false);
        if let (true, Some(file)) = (stale, &self.file)
            && let Ok(mut state) = self.state.write()
        {
            state.checked = std::time::Instant::now();
            let modified = std::fs::metadata(file).and_then(|m| m.modified()).ok();
            if modified != state.modified {
                match read_rules(file) {
                    Ok((policy, overrides, modified)) => {
                        tracing::info!("policy file {} read again", file.display());
                        state.policy = std::sync::Arc::new(policy);
                        state.overrides = std::sync::Arc::new(overrides);
                        state.modified = modified;
                    }
                    Err(e) => {
                        tracing::error!("policy file changed but is kept as it was: {e}");
                        state.modified = modified;
                    }
                }
            }
        }
        match self.state.read() {
            Ok(s) => s.policy.clone(),
            Err(poisoned) => poisoned.into_inner().policy.clone(),
        }
    }

    /// Whether `caller` may do what policy `name` guards on the membership of `member` in
    /// `image` (Glance's member target: the image's owner, the member's project as
    /// `member_id`).
    pub(crate) fn allows_on_member(
        &self,
        name: &str,
        caller: &Caller,
        image: &Image,
        member: &str,
    ) -> bool {
        let current = self.current();
        let creds = current.credentials(caller);
        let mut target = glint_core::policy::image_target(caller, image);
        target.insert("member_id".into(), member.to_string());
        current.allows(name, &creds, &target)
    }

    /// Glance's `context_is_admin`: what its database layer treats as an administrator (every
    /// image and task visible).
    pub(crate) fn is_admin(&self, caller: &Caller) -> bool {
        self.current().is_admin(caller)
    }

    /// Whether `caller` may do what policy `name` guards on no particular resource: the target
    /// is its own project, as Glance's for listing and creating.
    pub(crate) fn allows_here(&self, name: &str, caller: &Caller) -> bool {
        let current = self.current();
        current.allows(
            name,
            &current.credentials(caller),
            &glint_core::policy::project_target(caller),
        )
    }

    /// Whether the operator's file names `name` (a rule other than Glance's default for it,
    /// which the database queries already apply).
    pub(crate) fn overrides(&self, name: &str) -> bool {
        self.current().overrides(name)
    }

    /// Whether `caller` may do what policy `name` guards on `image` (or on nothing).
    pub(crate) fn allows(&self, name: &str, caller: &Caller, image: Option<&Image>) -> bool {
        let current = self.current();
        current.allows(name, &current.credentials(caller), &target(caller, image))
    }
}

/// What a policy's `%(field)s` refers to for an image (core's `image_target`), or nothing.
fn target(caller: &Caller, image: Option<&Image>) -> glint_core::policy::Target {
    match image {
        Some(image) => glint_core::policy::image_target(caller, image),
        None => glint_core::policy::Target::new(),
    }
}

type ReadRules = (
    glint_core::policy::Policy,
    Vec<(String, String)>,
    Option<std::time::SystemTime>,
);

fn read_rules(file: &std::path::Path) -> Result<ReadRules, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let modified = std::fs::metadata(file).and_then(|m| m.modified()).ok();
    let overrides =
        glint_core::policy::read_file(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    let policy = glint_core::policy::Policy::glance_defaults()
        .overridden(&overrides)
        .map_err(|e| format!("{}: {e}", file.display()))?;
    Ok((policy, overrides, modified))
}
