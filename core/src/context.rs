//! Who is asking, and under which settings: everything a plan depends on besides the image and
//! the request.

use serde::{Deserialize, Serialize};

use crate::protections::{Operation, PropertyProtections};
use crate::settings::Settings;

/// The identity a request is made with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    /// The project (tenant) the caller acts for.
    pub project_id: Option<String>,
    /// The caller's roles, as the identity service grants them.
    pub roles: Vec<String>,
}

impl Caller {
    pub fn new(project_id: Option<&str>, roles: &[&str]) -> Caller {
        Caller {
            project_id: project_id.map(str::to_string),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        }
    }

    /// The caller with the roles Keystone's default role inference adds: `admin` implies
    /// `member`, which implies `reader` (tokens from Keystone list them already; Glint's own
    /// accounts and trusted headers name only the role given).
    pub fn with_implied_roles(mut self) -> Caller {
        for (role, implied) in [("admin", "member"), ("member", "reader")] {
            if self.has_role(role) && !self.has_role(implied) {
                self.roles.push(implied.to_string());
            }
        }
        self
    }

    /// Whether the caller holds `role` (role names compare without regard to case).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r.eq_ignore_ascii_case(role))
    }

    /// Glance's `context_is_admin`: the caller holds the `admin` role.
    pub fn is_admin(&self) -> bool {
        self.has_role("admin")
    }

    /// Whether the caller acts for the project that owns an image.
    pub fn owns(&self, owner: Option<&str>) -> bool {
        matches!((self.project_id.as_deref(), owner), (Some(p), Some(o)) if p == o)
    }

    /// Glance's add_image rule: admin, or a `member` of a project.
    pub fn may_create(&self) -> bool {
        self.is_admin() || (self.has_role("member") && self.project_id.is_some())
    }
}

/// Everything planning needs besides the image and the request.
#[derive(Debug, Clone, Copy)]
pub struct PlanContext<'a> {
    pub caller: &'a Caller,
    pub settings: &'a Settings,
    pub protections: Option<&'a PropertyProtections>,
    /// The deployment's policy rules; without them, Glance's defaults as coded here decide.
    pub policy: Option<&'a crate::policy::Policy>,
}

impl<'a> PlanContext<'a> {
    pub fn new(caller: &'a Caller, settings: &'a Settings) -> PlanContext<'a> {
        PlanContext {
            caller,
            settings,
            protections: None,
            policy: None,
        }
    }

    pub fn with_policy(mut self, policy: &'a crate::policy::Policy) -> PlanContext<'a> {
        self.policy = Some(policy);
        self
    }

    /// Whether the policy `name` lets the caller act on `image` (without policy rules, the
    /// coded default `fallback`).
    pub fn allows(&self, name: &str, image: &crate::image::Image, fallback: bool) -> bool {
        let Some(policy) = self.policy else {
            return fallback;
        };
        let creds = policy.credentials(self.caller);
        policy.allows(
            name,
            &creds,
            &crate::policy::image_target(self.caller, image),
        )
    }

    pub fn with_protections(mut self, protections: &'a PropertyProtections) -> PlanContext<'a> {
        self.protections = Some(protections);
        self
    }

    /// Whether the caller may perform `operation` on the property `key`.
    pub fn may(&self, key: &str, operation: Operation) -> bool {
        match self.protections {
            Some(p) => p.allows(key, operation, &self.caller.roles),
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_imply_as_keystones_defaults() {
        let admin = Caller::new(Some("p"), &["Admin"]).with_implied_roles();
        assert!(admin.has_role("member") && admin.has_role("reader"));
        let member = Caller::new(Some("p"), &["member"]).with_implied_roles();
        assert_eq!(member.roles, vec!["member", "reader"]);
        let reader = Caller::new(Some("p"), &["reader", "service"]).with_implied_roles();
        assert_eq!(
            reader.roles,
            vec!["reader", "service"],
            "nothing above reader"
        );
        let both = Caller::new(Some("p"), &["member", "reader"]).with_implied_roles();
        assert_eq!(both.roles.len(), 2, "no role twice");
    }
}
