//! Sharing an image with other projects (its members): who may see, add, answer and remove a
//! membership, and the events each change emits. Only `shared` images have members. The owner
//! adds and removes them; each member project accepts, rejects or leaves pending its own
//! membership.

use glint_core::Visibility;

use super::{Actor, ImageError, Images};
use crate::access::{load_visible, refused, sees_member};
use crate::db::Member;
use crate::events::Event;

/// Glance's `image_member_quota`.
const MEMBER_QUOTA: usize = 128;

/// A membership status a member may give.
const STATUSES: [&str; 3] = ["pending", "accepted", "rejected"];

impl Images {
    /// The members of an image the caller sees, as far as it may see them.
    pub(crate) async fn members(&self, actor: &Actor, id: &str) -> Result<Vec<Member>, ImageError> {
        let stored = load_visible(&self.db, &self.rules, &actor.caller, id).await?;
        if !self
            .rules
            .allows("get_members", &actor.caller, Some(&stored.image))
        {
            return Err(refused("get_members").into());
        }
        let owner = stored.image.owner.as_deref();
        Ok(self
            .db
            .members(&stored.image.id)
            .await?
            .into_iter()
            .filter(|m| sees_member(&self.rules, &actor.caller, owner, &m.member))
            .collect())
    }

    /// One membership, where the caller may see it.
    pub(crate) async fn member(
        &self,
        actor: &Actor,
        id: &str,
        member: &str,
    ) -> Result<Member, ImageError> {
        let stored = load_visible(&self.db, &self.rules, &actor.caller, id).await?;
        if !self
            .rules
            .allows("get_member", &actor.caller, Some(&stored.image))
        {
            return Err(refused("get_member").into());
        }
        let may_see = sees_member(
            &self.rules,
            &actor.caller,
            stored.image.owner.as_deref(),
            member,
        );
        match self.db.member(&stored.image.id, member).await? {
            Some(m) if may_see => Ok(m),
            _ => Err(ImageError::NoSuchMember(
                member.to_string(),
                stored.image.id,
            )),
        }
    }

    /// Shares an image with a project (pending until it answers): the owner's, for shared
    /// images, within the member quota.
    pub(crate) async fn add_member(
        &self,
        actor: &Actor,
        id: &str,
        member: &str,
    ) -> Result<Member, ImageError> {
        let member = member.trim();
        if member.is_empty() || member.chars().count() > 255 {
            return Err(ImageError::Invalid(
                "A member id must be 1 to 255 characters.".into(),
            ));
        }
        let stored = self.load_writable(&actor.caller, id, "add_member").await?;
        if stored.image.visibility != Visibility::Shared {
            return Err(ImageError::NotShared);
        }
        if self.db.members(&stored.image.id).await?.len() >= MEMBER_QUOTA {
            return Err(ImageError::QuotaExceeded(format!(
                "Maximum number of members exceeded: {MEMBER_QUOTA} allowed."
            )));
        }
        let m = self.db.add_member(&stored.image.id, member).await?;
        self.tell(Event::MemberCreated {
            member: m.clone(),
            by: actor.by(),
        })
        .await;
        Ok(m)
    }

    /// A member project answers a share: accepted, rejected or pending.
    pub(crate) async fn answer_share(
        &self,
        actor: &Actor,
        id: &str,
        member: &str,
        status: &str,
    ) -> Result<Member, ImageError> {
        if !STATUSES.contains(&status) {
            return Err(ImageError::Invalid(format!(
                "Invalid status '{status}': expected pending, accepted or rejected."
            )));
        }
        let stored = load_visible(&self.db, &self.rules, &actor.caller, id).await?;
        let no_such = || ImageError::NoSuchMember(member.to_string(), stored.image.id.clone());
        if self.db.member(&stored.image.id, member).await?.is_none() {
            return Err(no_such());
        }
        if !self
            .rules
            .allows_on_member("modify_member", &actor.caller, &stored.image, member)
        {
            return Err(refused("modify_member").into());
        }
        let m = self
            .db
            .set_member_status(&stored.image.id, member, status)
            .await?
            .ok_or_else(no_such)?;
        self.tell(Event::MemberUpdated {
            member: m.clone(),
            by: actor.by(),
        })
        .await;
        Ok(m)
    }

    /// Replaces the member list (Glance's v1 `PUT /v1/images/{id}/members`): each project with
    /// its `can_share`; projects not listed stop being members.
    pub(crate) async fn replace_members(
        &self,
        actor: &Actor,
        id: &str,
        list: &[(String, Option<bool>)],
    ) -> Result<(), ImageError> {
        let stored = self.load_writable(&actor.caller, id, "add_member").await?;
        if list.len() > MEMBER_QUOTA {
            return Err(ImageError::QuotaExceeded(format!(
                "Maximum number of members exceeded: {} requested, {MEMBER_QUOTA} allowed.",
                list.len()
            )));
        }
        let before = self.db.members(&stored.image.id).await?;
        self.db.replace_members(&stored.image.id, list).await?;
        let after = self.db.members(&stored.image.id).await?;
        for m in &before {
            if !after.iter().any(|a| a.member == m.member) {
                self.tell(Event::MemberDeleted {
                    member: m.clone(),
                    by: actor.by(),
                })
                .await;
            }
        }
        for m in &after {
            match before.iter().find(|b| b.member == m.member) {
                None => {
                    self.tell(Event::MemberCreated {
                        member: m.clone(),
                        by: actor.by(),
                    })
                    .await
                }
                Some(b) if b != m => {
                    self.tell(Event::MemberUpdated {
                        member: m.clone(),
                        by: actor.by(),
                    })
                    .await
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Adds a member, or changes its `can_share` (Glance's v1 `PUT .../members/{member}`).
    pub(crate) async fn put_member(
        &self,
        actor: &Actor,
        id: &str,
        member: &str,
        can_share: Option<bool>,
    ) -> Result<(), ImageError> {
        let stored = self.load_writable(&actor.caller, id, "add_member").await?;
        let existing = self.db.members(&stored.image.id).await?;
        let known = existing.iter().any(|m| m.member == member);
        if !known && existing.len() >= MEMBER_QUOTA {
            return Err(ImageError::QuotaExceeded(format!(
                "Maximum number of members exceeded: {MEMBER_QUOTA} allowed."
            )));
        }
        self.db
            .put_member(&stored.image.id, member, can_share)
            .await?;
        if let Some(m) = self.db.member(&stored.image.id, member).await? {
            let by = actor.by();
            self.tell(match known {
                false => Event::MemberCreated { member: m, by },
                true => Event::MemberUpdated { member: m, by },
            })
            .await;
        }
        Ok(())
    }

    /// The owner ends a share.
    pub(crate) async fn remove_member(
        &self,
        actor: &Actor,
        id: &str,
        member: &str,
    ) -> Result<(), ImageError> {
        let stored = load_visible(&self.db, &self.rules, &actor.caller, id).await?;
        if !self
            .rules
            .allows_on_member("delete_member", &actor.caller, &stored.image, member)
        {
            return Err(refused("delete_member").into());
        }
        let Some(m) = self.db.member(&stored.image.id, member).await? else {
            return Err(ImageError::NoSuchMember(
                member.to_string(),
                stored.image.id,
            ));
        };
        if !self.db.delete_member(&stored.image.id, member).await? {
            return Err(ImageError::NoSuchMember(
                member.to_string(),
                stored.image.id,
            ));
        }
        self.tell(Event::MemberDeleted {
            member: m,
            by: actor.by(),
        })
        .await;
        Ok(())
    }
}
