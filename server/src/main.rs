//! The `glint` command.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use glint_server::{Config, DbArgs, ServeArgs};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(name = "glint", version, about = "A Glance-compatible image registry")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the API server and the web UI.
    Serve(Box<ServeArgs>),
    /// Manage user accounts.
    User {
        #[command(subcommand)]
        action: UserAction,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Manage projects.
    Project {
        #[command(subcommand)]
        action: ProjectAction,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        action: TokenAction,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Maintain the database.
    Db {
        #[command(subcommand)]
        action: DbAction,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Take over a Glance deployment: its database (read, never written) into Glint's, its
    /// image data where it is. A dry run unless --apply.
    Adopt(Box<AdoptArgs>),
    /// Manage the metadata definitions catalogue.
    Metadefs {
        #[command(subcommand)]
        action: MetadefsAction,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, clap::Args)]
struct AdoptArgs {
    /// Glance's database, as its `[database] connection` names it
    /// (mysql+pymysql://..., postgresql://..., sqlite:///...)
    #[arg(long)]
    from: String,
    /// GLANCE=GLINT: Glance's store id (multi-store) or a location URL prefix, and the Glint
    /// store that reads it (repeat, or separate with commas)
    #[arg(long = "store-map")]
    store_map: Vec<String>,
    /// Write (otherwise: report what would be adopted)
    #[arg(long)]
    apply: bool,
    /// Read every image back through Glint and compare it with Glance's rows
    #[arg(long)]
    verify: bool,
    /// Also hash the data every readable location holds and compare it with the checksums
    #[arg(long)]
    verify_data: bool,
    #[command(flatten)]
    glint: ServeArgs,
}

#[derive(Debug, Subcommand)]
enum DbAction {
    /// Remove images deleted more than --age-in-days ago with all their rows (properties,
    /// tags, locations, members, history) and old finished tasks; their ids stay reserved.
    /// Counts only, unless --apply.
    Purge {
        /// Images deleted (and tasks finished) more than this many days ago
        #[arg(long)]
        age_in_days: u64,
        /// Most images to purge in this run [default: all]
        #[arg(long)]
        max_rows: Option<u64>,
        /// Also the history (change records, removed values) of live images older than this
        #[arg(long)]
        history_age_in_days: Option<u64>,
        /// Remove what is counted
        #[arg(long)]
        apply: bool,
    },
}

#[derive(Debug, Subcommand)]
enum MetadefsAction {
    /// Load every namespace file (*.json, Glance's format, e.g. Glance's etc/metadefs) of a
    /// folder; namespaces already present are skipped unless --merge or --overwrite.
    Load {
        dir: std::path::PathBuf,
        /// Add what the files have and the database lacks to existing namespaces
        #[arg(long)]
        merge: bool,
        /// With --merge: the files' versions of existing parts replace the database's
        #[arg(long, requires = "merge")]
        prefer_new: bool,
        /// Delete existing namespaces named in the files and load them anew
        #[arg(long, conflicts_with = "merge")]
        overwrite: bool,
    },
}

#[derive(Debug, Subcommand)]
enum UserAction {
    /// Create a user with roles in a project (read the password from standard input).
    Create {
        name: String,
        #[arg(long)]
        project: String,
        #[arg(long, default_value = "member,reader")]
        roles: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Set a user's password (read from standard input).
    Password {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Give a user roles in a project.
    Assign {
        name: String,
        #[arg(long)]
        project: String,
        #[arg(long)]
        roles: String,
    },
    /// Disable a user: its tokens stop working.
    Disable { name: String },
    /// Enable a disabled user.
    Enable { name: String },
}

#[derive(Debug, Subcommand)]
enum ProjectAction {
    /// Create a project.
    Create { name: String },
    /// List projects.
    List,
    /// Show a project's own limits, or set them (local limits: over --image-quota and
    /// --storage-quota; not with --use-keystone-limits). Sizes in MiB; -1 is no limit.
    Limit {
        /// The project's name or id (a Keystone project's id in keystone mode)
        project: String,
        #[arg(long, allow_negative_numbers = true)]
        image_size_total: Option<i64>,
        #[arg(long, allow_negative_numbers = true)]
        image_stage_total: Option<i64>,
        #[arg(long, allow_negative_numbers = true)]
        image_count_total: Option<i64>,
        #[arg(long, allow_negative_numbers = true)]
        image_count_uploading: Option<i64>,
        /// A resource whose limit is the deployment's again (repeatable)
        #[arg(long, value_name = "RESOURCE")]
        unset: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum TokenAction {
    /// Issue a token for a user (printed once).
    Create {
        #[arg(long)]
        user: String,
        #[arg(long)]
        project: Option<String>,
        /// Seconds until it expires
        #[arg(long, default_value_t = 86_400)]
        ttl: i64,
        #[arg(long)]
        description: Option<String>,
    },
    /// List a user's tokens (by hash; the secrets are not kept).
    List {
        #[arg(long)]
        user: String,
    },
    /// Revoke a token, given the token or its hash.
    Revoke { token: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            EnvFilter::try_from_env("GLINT_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let result = match cli.command {
        Command::Serve(args) => serve(*args),
        Command::User { action, db } => admin(db, Admin::User(action)),
        Command::Project { action, db } => admin(db, Admin::Project(action)),
        Command::Token { action, db } => admin(db, Admin::Token(action)),
        Command::Adopt(args) => adopt(*args),
        Command::Metadefs { action, db } => metadefs(db, action),
        Command::Db { action, db } => database(db, action),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("glint: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs) -> Result<(), glint_server::StartError> {
    let config = Config::resolve(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|source| glint_server::StartError::Bind {
                addr: config.bind,
                source,
            })?;
        let data = match &config.s3 {
            Some(s3) => format!("S3 bucket {}", s3.bucket),
            None => config.data_dir.display().to_string(),
        };
        tracing::info!(
            "Glint listening on http://{} (database {}, data in {data})",
            listener.local_addr()?,
            redact(&config.database_url),
        );
        glint_server::run(listener, config, shutdown_signal()).await
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

/// A Keystone project id: 32 hexadecimal digits, or a UUID.
fn looks_like_keystone_id(s: &str) -> bool {
    (s.len() == 32 && s.chars().all(|c| c.is_ascii_hexdigit())) || uuid::Uuid::parse_str(s).is_ok()
}

enum Admin {
    User(UserAction),
    Project(ProjectAction),
    Token(TokenAction),
}

fn read_password(from_stdin: bool) -> Result<String, glint_server::StartError> {
    if !from_stdin {
        return std::env::var("GLINT_USER_PASSWORD").map_err(|_| {
            glint_server::StartError::Config {
                message: "give the password on standard input with --password-stdin \
                      (or in GLINT_USER_PASSWORD)"
                    .into(),
            }
        });
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Database maintenance.
fn database(args: DbArgs, action: DbAction) -> Result<(), glint_server::StartError> {
    let DbAction::Purge {
        age_in_days,
        max_rows,
        history_age_in_days,
        apply,
    } = action;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let days = |d: u64| glint_server::time::now_micros() - (d as i64) * 86_400 * 1_000_000;
    let what = glint_server::db::Purge {
        deleted_before: days(age_in_days),
        history_before: history_age_in_days.map(days),
        max_images: max_rows,
        apply,
    };
    runtime.block_on(async move {
        let done = glint_server::purge(&args, &what).await?;
        let verb = if apply {
            "purged"
        } else {
            "would purge (dry run; --apply to purge)"
        };
        println!(
            "{verb}: {} images, {} properties, {} tags, {} locations, {} members, {} change \
             records, {} tasks, {} history rows of live images",
            done.images,
            done.properties,
            done.tags,
            done.locations,
            done.members,
            done.changes,
            done.tasks,
            done.history
        );
        Ok(())
    })
}

/// Account administration, straight on the database the server uses.
fn admin(args: DbArgs, what: Admin) -> Result<(), glint_server::StartError> {
    use glint_server::accounts::AccountError;
    let database_url = args.database_url()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let fail = |e: AccountError| glint_server::StartError::Config {
        message: e.to_string(),
    };
    runtime.block_on(async move {
        let db = glint_server::db::Db::connect(&database_url).await?;
        match what {
            Admin::Project(ProjectAction::Create { name }) => {
                let p = db.create_project(&name).await.map_err(fail)?;
                println!("created project {} ({})", p.name, p.id);
            }
            Admin::Project(ProjectAction::Limit {
                project,
                image_size_total,
                image_stage_total,
                image_count_total,
                image_count_uploading,
                unset,
            }) => {
                let id = match db.project(&project).await {
                    Ok(p) => p.id,
                    Err(_) if looks_like_keystone_id(&project) => project.clone(),
                    Err(e) => return Err(fail(e)),
                };
                let given = [
                    ("image_size_total", image_size_total),
                    ("image_stage_total", image_stage_total),
                    ("image_count_total", image_count_total),
                    ("image_count_uploading", image_count_uploading),
                ];
                for name in &unset {
                    if !given.iter().any(|(n, _)| n == name) {
                        return Err(glint_server::StartError::Config {
                            message: format!("no resource {name}"),
                        });
                    }
                }
                for (name, value) in given.iter().filter_map(|(n, v)| v.map(|v| (*n, v))) {
                    if value < -1 {
                        return Err(glint_server::StartError::Config {
                            message: format!("{name}: a limit is -1 (none) or more"),
                        });
                    }
                    db.set_project_limit(&id, name, Some(value)).await?;
                }
                for name in &unset {
                    db.set_project_limit(&id, name, None).await?;
                }
                let own = db.project_limits(&id).await?;
                println!("project {id}");
                for (name, _) in given {
                    match own.iter().find(|(n, _)| n == name) {
                        Some((_, v)) => println!("  {name}\t{v}"),
                        None => println!("  {name}\t(the deployment's)"),
                    }
                }
            }
            Admin::Project(ProjectAction::List) => {
                for p in db.projects().await.map_err(fail)? {
                    println!("{}\t{}", p.id, p.name);
                }
            }
            Admin::User(UserAction::Create {
                name,
                project,
                roles,
                password_stdin,
            }) => {
                let password = read_password(password_stdin)?;
                let u = db
                    .create_user(&name, &password, &project, &roles)
                    .await
                    .map_err(fail)?;
                println!("created user {} ({})", u.name, u.id);
            }
            Admin::User(UserAction::List) => {
                for u in db.users().await.map_err(fail)? {
                    let state = if u.enabled { "enabled" } else { "disabled" };
                    println!("{}\t{}\t{state}", u.id, u.name);
                }
            }
            Admin::User(UserAction::Password {
                name,
                password_stdin,
            }) => {
                let password = read_password(password_stdin)?;
                db.set_password(&name, &password).await.map_err(fail)?;
                println!("password of {name} changed");
            }
            Admin::User(UserAction::Assign {
                name,
                project,
                roles,
            }) => {
                db.assign(&name, &project, &roles).await.map_err(fail)?;
                println!("{name} has {roles} in {project}");
            }
            Admin::User(UserAction::Disable { name }) => {
                db.set_enabled(&name, false).await.map_err(fail)?;
                println!("{name} disabled");
            }
            Admin::User(UserAction::Enable { name }) => {
                db.set_enabled(&name, true).await.map_err(fail)?;
                println!("{name} enabled");
            }
            Admin::Token(TokenAction::Create {
                user,
                project,
                ttl,
                description,
            }) => {
                let t = db
                    .issue_token(&user, project.as_deref(), ttl, description.as_deref(), None)
                    .await
                    .map_err(fail)?;
                println!("{}", t.secret);
            }
            Admin::Token(TokenAction::List { user }) => {
                for (hash, project, description, expires, revoked) in
                    db.tokens(&user).await.map_err(fail)?
                {
                    let state = if revoked { "revoked" } else { "valid" };
                    println!(
                        "{hash}\t{project}\t{}\texpires {}\t{state}",
                        description.unwrap_or_default(),
                        glint_server::time::format(expires)
                    );
                }
            }
            Admin::Token(TokenAction::Revoke { token }) => {
                let done = db.revoke_token(&token).await.map_err(fail)?
                    || db.revoke_hash(&token).await.map_err(fail)?;
                if done {
                    println!("revoked");
                } else {
                    return Err(glint_server::StartError::Config {
                        message: "no such valid token".into(),
                    });
                }
            }
        }
        db.close().await;
        Ok(())
    })
}

/// Catalogue administration, straight on the database the server uses.
fn metadefs(args: DbArgs, what: MetadefsAction) -> Result<(), glint_server::StartError> {
    use glint_server::catalogue::{LoadMode, Loaded, load_dir};
    let database_url = args.database_url()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let db = glint_server::db::Db::connect(&database_url).await?;
        let MetadefsAction::Load {
            dir,
            merge,
            prefer_new,
            overwrite,
        } = what;
        let mode = match (merge, overwrite) {
            (true, _) => LoadMode::Merge { prefer_new },
            (false, true) => LoadMode::Overwrite,
            (false, false) => LoadMode::Skip,
        };
        let outcomes = load_dir(&db, &dir, mode).await?;
        let mut failed = 0;
        for o in &outcomes {
            match &o.result {
                Ok((ns, done)) => {
                    let done = match done {
                        Loaded::Created => "loaded",
                        Loaded::Skipped => "skipped (already present)",
                        Loaded::Merged => "merged",
                        Loaded::Overwritten => "overwritten",
                    };
                    println!("{ns}: {done}");
                }
                Err(why) => {
                    failed += 1;
                    eprintln!("{}: not loaded: {why}", o.file.display());
                }
            }
        }
        db.close().await;
        match failed {
            0 => Ok(()),
            n => Err(glint_server::StartError::Config {
                message: format!("{n} of {} files were not loaded", outcomes.len()),
            }),
        }
    })
}

fn adopt(args: AdoptArgs) -> Result<(), glint_server::StartError> {
    let options = glint_server::adopt::AdoptOptions {
        from: args.from,
        store_map: args.store_map,
        apply: args.apply,
        verify: args.verify,
        verify_data: args.verify_data,
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let outcome = runtime
        .block_on(glint_server::adopt(args.glint, &options))
        .map_err(|e| glint_server::StartError::Config {
            message: format!("adopt: {e}"),
        })?;
    print!("{}", outcome.report);
    match outcome.differences.len() {
        0 => Ok(()),
        n => Err(glint_server::StartError::Config {
            message: format!("verification found {n} differences"),
        }),
    }
}

/// A database URL without its password, for the log.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_passwords_stay_out_of_the_log() {
        assert_eq!(
            super::redact("postgres://glint:s3cret@db:5432/glint"),
            "postgres://glint:***@db:5432/glint"
        );
        assert_eq!(
            super::redact("postgres://glint@db/glint"),
            "postgres://glint@db/glint"
        );
        assert_eq!(
            super::redact("sqlite:glint-data/glint.db"),
            "sqlite:glint-data/glint.db"
        );
    }
}
