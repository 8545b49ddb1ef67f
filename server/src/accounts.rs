//! Accounts: projects, users, their roles, and API tokens. Passwords are hashed with argon2;
//! tokens are random and stored only as their SHA-256, so a database leak reveals neither.

use argon2::Argon2;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sha2::{Digest, Sha256};
use sqlx::Row;
use thiserror::Error;

use crate::db::{Db, DbError, is_unique_violation};
use crate::time;

/// The roles Glint knows.
pub const ROLES: [&str; 3] = ["admin", "member", "reader"];

/// Why an account operation failed.
#[derive(Debug, Error)]
pub enum AccountError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    Exists(String),
    #[error("{0}")]
    Invalid(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
}

impl From<sqlx::Error> for AccountError {
    fn from(e: sqlx::Error) -> AccountError {
        AccountError::Db(DbError::Sqlx(e))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub name: String,
    pub default_project: String,
    pub enabled: bool,
}

/// Who a valid token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenIdentity {
    pub user_id: String,
    pub user_name: String,
    pub project_id: String,
    pub project_name: String,
    pub roles: Vec<String>,
    pub expires_at: i64,
}

/// A freshly issued token: the secret is shown once and never stored.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub secret: String,
    pub identity: TokenIdentity,
}

fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A new random token secret (256 bits).
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    format!("glint_{}", crate::hashing::hex(&bytes))
}

/// What the database keeps of a token.
pub fn token_hash(secret: &str) -> String {
    crate::hashing::hex(&Sha256::digest(secret.as_bytes()))
}

pub fn hash_password(password: &str) -> Result<String, AccountError> {
    if password.chars().count() < 8 {
        return Err(AccountError::Invalid(
            "A password must have at least 8 characters.".into(),
        ));
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Hash(e.to_string()))
}

fn password_matches(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

fn parse_roles(roles: &str) -> Result<Vec<String>, AccountError> {
    let list: Vec<String> = roles
        .split(',')
        .map(|r| r.trim().to_ascii_lowercase())
        .filter(|r| !r.is_empty())
        .collect();
    if list.is_empty() {
        return Err(AccountError::Invalid("At least one role is needed.".into()));
    }
    if let Some(bad) = list.iter().find(|r| !ROLES.contains(&r.as_str())) {
        return Err(AccountError::Invalid(format!(
            "Unknown role '{bad}': roles are admin, member and reader."
        )));
    }
    Ok(list)
}

fn valid_name(kind: &str, name: &str) -> Result<(), AccountError> {
    if name.is_empty() || name.chars().count() > 255 || name.chars().any(char::is_control) {
        return Err(AccountError::Invalid(format!(
            "A {kind} name must be 1 to 255 printable characters."
        )));
    }
    Ok(())
}

impl Db {
    pub async fn create_project(&self, name: &str) -> Result<Project, AccountError> {
        valid_name("project", name)?;
        let id = new_id();
        let done = sqlx::query("INSERT INTO projects (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(&id)
            .bind(name)
            .bind(time::now_micros())
            .execute(&self.writer)
            .await;
        match done {
            Err(e) if is_unique_violation(&e) => {
                Err(AccountError::Exists(format!("Project {name}")))
            }
            Err(e) => Err(e.into()),
            Ok(_) => Ok(Project {
                id,
                name: name.to_string(),
            }),
        }
    }

    /// A project by id or by name.
    pub async fn project(&self, id_or_name: &str) -> Result<Project, AccountError> {
        let row = sqlx::query("SELECT id, name FROM projects WHERE id = $1 OR name = $1")
            .bind(id_or_name)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| AccountError::NotFound(format!("Project {id_or_name}")))?;
        Ok(Project {
            id: row.try_get(0)?,
            name: row.try_get(1)?,
        })
    }

    pub async fn projects(&self) -> Result<Vec<Project>, AccountError> {
        let rows = sqlx::query("SELECT id, name FROM projects ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Project {
                    id: r.try_get(0)?,
                    name: r.try_get(1)?,
                })
            })
            .collect()
    }

    pub async fn user_count(&self) -> Result<i64, AccountError> {
        let row = sqlx::query("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get(0)?)
    }

    /// Creates a user with `roles` in `project` (its default project).
    pub async fn create_user(
        &self,
        name: &str,
        password: &str,
        project: &str,
        roles: &str,
    ) -> Result<User, AccountError> {
        valid_name("user", name)?;
        let roles = parse_roles(roles)?;
        let project = self.project(project).await?;
        let hash = hash_password(password)?;
        let id = new_id();
        let mut tx = self.writer.begin().await?;
        let done = sqlx::query(
            "INSERT INTO users (id, name, password_hash, default_project, enabled, created_at) \
             VALUES ($1, $2, $3, $4, 1, $5)",
        )
        .bind(&id)
        .bind(name)
        .bind(&hash)
        .bind(&project.id)
        .bind(time::now_micros())
        .execute(&mut *tx)
        .await;
        match done {
            Err(e) if is_unique_violation(&e) => {
                return Err(AccountError::Exists(format!("User {name}")));
            }
            other => other?,
        };
        sqlx::query("INSERT INTO assignments (user_id, project_id, roles) VALUES ($1, $2, $3)")
            .bind(&id)
            .bind(&project.id)
            .bind(roles.join(","))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(User {
            id,
            name: name.to_string(),
            default_project: project.id,
            enabled: true,
        })
    }

    /// Gives a user `roles` in a project (replacing the roles it had there).
    pub async fn assign(&self, user: &str, project: &str, roles: &str) -> Result<(), AccountError> {
        let roles = parse_roles(roles)?;
        let user = self.user(user).await?;
        let project = self.project(project).await?;
        sqlx::query(
            "INSERT INTO assignments (user_id, project_id, roles) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, project_id) DO UPDATE SET roles = excluded.roles",
        )
        .bind(&user.id)
        .bind(&project.id)
        .bind(roles.join(","))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// A user by id or by name.
    pub async fn user(&self, id_or_name: &str) -> Result<User, AccountError> {
        let row = sqlx::query(
            "SELECT id, name, default_project, enabled FROM users WHERE id = $1 OR name = $1",
        )
        .bind(id_or_name)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| AccountError::NotFound(format!("User {id_or_name}")))?;
        Ok(User {
            id: row.try_get(0)?,
            name: row.try_get(1)?,
            default_project: row.try_get(2)?,
            enabled: row.try_get::<i64, _>(3)? != 0,
        })
    }

    pub async fn users(&self) -> Result<Vec<User>, AccountError> {
        let rows =
            sqlx::query("SELECT id, name, default_project, enabled FROM users ORDER BY name")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                Ok(User {
                    id: r.try_get(0)?,
                    name: r.try_get(1)?,
                    default_project: r.try_get(2)?,
                    enabled: r.try_get::<i64, _>(3)? != 0,
                })
            })
            .collect()
    }

    pub async fn set_password(&self, user: &str, password: &str) -> Result<(), AccountError> {
        let user = self.user(user).await?;
        let hash = hash_password(password)?;
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(&user.id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Disables or enables a user; a disabled user's tokens stop working at once.
    pub async fn set_enabled(&self, user: &str, enabled: bool) -> Result<(), AccountError> {
        let user = self.user(user).await?;
        sqlx::query("UPDATE users SET enabled = $1 WHERE id = $2")
            .bind(i64::from(enabled))
            .bind(&user.id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Checks a user's password; `None` when the name or the password is wrong, or the user is
    /// disabled (the caller cannot tell which).
    pub async fn check_password(
        &self,
        name: &str,
        password: &str,
    ) -> Result<Option<User>, AccountError> {
        let row = sqlx::query(
            "SELECT id, name, default_project, enabled, password_hash FROM users WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            // Spend the same time as a real check, so names cannot be probed by timing.
            let _ = password_matches(password, DUMMY_HASH);
            return Ok(None);
        };
        let hash: String = row.try_get(4)?;
        let enabled = row.try_get::<i64, _>(3)? != 0;
        if !password_matches(password, &hash) || !enabled {
            return Ok(None);
        }
        Ok(Some(User {
            id: row.try_get(0)?,
            name: row.try_get(1)?,
            default_project: row.try_get(2)?,
            enabled,
        }))
    }

    /// Issues a token for a user in a project it holds roles in. With `secret`, that value is
    /// the token (for scripted set-ups); otherwise a random one is made.
    pub async fn issue_token(
        &self,
        user: &str,
        project: Option<&str>,
        ttl_seconds: i64,
        description: Option<&str>,
        secret: Option<&str>,
    ) -> Result<IssuedToken, AccountError> {
        let user = self.user(user).await?;
        let project = match project {
            Some(p) => self.project(p).await?,
            None => self.project(&user.default_project).await?,
        };
        let secret = secret.map(str::to_string).unwrap_or_else(new_secret);
        if secret.len() < 16 {
            return Err(AccountError::Invalid(
                "A token must have at least 16 characters.".into(),
            ));
        }
        let now = time::now_micros();
        let expires = now.saturating_add(ttl_seconds.saturating_mul(1_000_000));
        let roles = self.roles(&user.id, &project.id).await?;
        if roles.is_empty() {
            return Err(AccountError::Invalid(format!(
                "User {} has no role in project {}.",
                user.name, project.name
            )));
        }
        sqlx::query(
            "INSERT INTO tokens (hash, user_id, project_id, description, created_at, expires_at, revoked) \
             VALUES ($1, $2, $3, $4, $5, $6, 0) \
             ON CONFLICT (hash) DO UPDATE SET expires_at = excluded.expires_at, revoked = 0",
        )
        .bind(token_hash(&secret))
        .bind(&user.id)
        .bind(&project.id)
        .bind(description)
        .bind(now)
        .bind(expires)
        .execute(&self.writer)
        .await?;
        Ok(IssuedToken {
            secret,
            identity: TokenIdentity {
                user_id: user.id,
                user_name: user.name,
                project_id: project.id,
                project_name: project.name,
                roles,
                expires_at: expires,
            },
        })
    }

    async fn roles(&self, user_id: &str, project_id: &str) -> Result<Vec<String>, AccountError> {
        let row =
            sqlx::query("SELECT roles FROM assignments WHERE user_id = $1 AND project_id = $2")
                .bind(user_id)
                .bind(project_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(match row {
            Some(r) => r
                .try_get::<String, _>(0)?
                .split(',')
                .map(str::to_string)
                .filter(|s| !s.is_empty())
                .collect(),
            None => Vec::new(),
        })
    }

    /// Who a token speaks for, if it is valid now (known, not revoked, not expired, user enabled).
    pub async fn token_identity(
        &self,
        secret: &str,
    ) -> Result<Option<TokenIdentity>, AccountError> {
        let row = sqlx::query(
            "SELECT t.user_id, u.name, t.project_id, p.name, a.roles, t.expires_at \
             FROM tokens t JOIN users u ON u.id = t.user_id JOIN projects p ON p.id = t.project_id \
             JOIN assignments a ON a.user_id = t.user_id AND a.project_id = t.project_id \
             WHERE t.hash = $1 AND t.revoked = 0 AND t.expires_at > $2 AND u.enabled = 1",
        )
        .bind(token_hash(secret))
        .bind(time::now_micros())
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else {
            return Ok(None);
        };
        Ok(Some(TokenIdentity {
            user_id: r.try_get(0)?,
            user_name: r.try_get(1)?,
            project_id: r.try_get(2)?,
            project_name: r.try_get(3)?,
            roles: r
                .try_get::<String, _>(4)?
                .split(',')
                .map(str::to_string)
                .collect(),
            expires_at: r.try_get(5)?,
        }))
    }

    /// Revokes a token by its secret; returns whether there was one.
    pub async fn revoke_token(&self, secret: &str) -> Result<bool, AccountError> {
        self.revoke_hash(&token_hash(secret)).await
    }

    /// Revokes a token by its stored hash (as `glint token list` shows it).
    pub async fn revoke_hash(&self, hash: &str) -> Result<bool, AccountError> {
        let done = sqlx::query("UPDATE tokens SET revoked = 1 WHERE hash = $1 AND revoked = 0")
            .bind(hash)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Tokens of a user: (hash, project, description, expires_at, revoked).
    pub async fn tokens(
        &self,
        user: &str,
    ) -> Result<Vec<(String, String, Option<String>, i64, bool)>, AccountError> {
        let user = self.user(user).await?;
        let rows = sqlx::query(
            "SELECT t.hash, p.name, t.description, t.expires_at, t.revoked FROM tokens t \
             JOIN projects p ON p.id = t.project_id WHERE t.user_id = $1 ORDER BY t.created_at",
        )
        .bind(&user.id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    r.try_get(1)?,
                    r.try_get(2)?,
                    r.try_get(3)?,
                    r.try_get::<i64, _>(4)? != 0,
                ))
            })
            .collect()
    }
}

/// An argon2 hash of a random password, checked against when a name is unknown.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$5Ztv9c0lVRIBA/Ttkl8cj6oFU9ZTq9Im0mwDPJnfoAU";
