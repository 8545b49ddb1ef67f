//! Server configuration: command-line flags, `GLINT_*` environment variables and an optional
//! TOML file, in that order of precedence.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;
use serde::{Deserialize, Serialize};

use crate::error::StartError;

/// The settings of `glint serve`, each declared once: a flag, its `GLINT_*` environment
/// variable, and a key of the TOML file (the flag's name with `_` for `-`). Secrets and flags
/// that only make sense on a command line (the admin password and token, `--file-stores`,
/// `--config`) are not read from the file.
#[derive(Debug, Clone, Default, Args, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:9292]
    #[arg(long, env = "GLINT_BIND")]
    pub bind: Option<SocketAddr>,
    /// Folder for the SQLite database and the filesystem store [default: glint-data]
    #[arg(long, env = "GLINT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL, `sqlite:PATH` or `postgres://...` [default: sqlite in the data folder]
    #[arg(long, env = "GLINT_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Folder with the built web UI, served at `/` [default: web-ui/dist]
    #[arg(long, env = "GLINT_UI_DIR")]
    pub ui_dir: Option<PathBuf>,
    /// Whether uploaded content must match its disk_format (safety checks apply either way)
    /// [default: true]
    #[arg(long, env = "GLINT_REQUIRE_FORMAT_MATCH")]
    pub require_format_match: Option<bool>,
    /// Development only: trust X-Tenant-Id / X-Roles headers instead of checking tokens
    #[arg(long, env = "GLINT_INSECURE_NOAUTH")]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub insecure_noauth: bool,
    /// Who checks tokens: `local` (Glint's own accounts) or `keystone` [default: local]
    #[arg(long, env = "GLINT_AUTH", value_enum)]
    pub auth: Option<AuthMode>,
    /// Keystone's URL, e.g. http://keystone:5000 (keystone mode)
    #[arg(long, env = "GLINT_KEYSTONE_URL")]
    pub keystone_url: Option<String>,
    /// Glint's service user in Keystone (keystone mode)
    #[arg(long, env = "GLINT_KEYSTONE_USERNAME")]
    pub keystone_username: Option<String>,
    /// The service user's password (keystone mode)
    #[arg(long, env = "GLINT_KEYSTONE_PASSWORD", hide_env_values = true)]
    pub keystone_password: Option<String>,
    /// The service user's project (keystone mode) [default: service]
    #[arg(long, env = "GLINT_KEYSTONE_PROJECT")]
    pub keystone_project: Option<String>,
    /// The domain of the service user and of users logging in (keystone mode) [default: Default]
    #[arg(long, env = "GLINT_KEYSTONE_USER_DOMAIN")]
    pub keystone_user_domain: Option<String>,
    /// The domain of the service project and of projects logged into (keystone mode)
    /// [default: Default]
    #[arg(long, env = "GLINT_KEYSTONE_PROJECT_DOMAIN")]
    pub keystone_project_domain: Option<String>,
    /// How long a validated Keystone token is trusted before asking again, in seconds
    /// [default: 300]
    #[arg(long, env = "GLINT_KEYSTONE_CACHE_SECONDS")]
    pub keystone_cache_seconds: Option<u64>,
    /// The admin account's password on first start (otherwise a random one is printed)
    #[arg(long, env = "GLINT_ADMIN_PASSWORD", hide_env_values = true)]
    #[serde(skip)]
    pub admin_password: Option<String>,
    /// A token for the admin account, made valid at start (for scripted set-ups and tests)
    #[arg(long, env = "GLINT_ADMIN_TOKEN", hide_env_values = true)]
    #[serde(skip)]
    pub admin_token: Option<String>,
    /// A property protections file in Glance's roles format
    #[arg(long, env = "GLINT_PROPERTY_PROTECTIONS")]
    pub property_protections: Option<PathBuf>,
    /// The image schema's additional properties, with types, enums and a `required` list
    /// (Glance's `schema-image.json`, flat or `{"properties": ..., "required": [...]}`)
    /// [default: Glance's own]
    #[arg(long, env = "GLINT_IMAGE_SCHEMA_FILE")]
    pub image_schema_file: Option<PathBuf>,
    /// Most images a project may own (not counting deleted ones) [default: unlimited]
    #[arg(long, env = "GLINT_IMAGE_QUOTA")]
    pub image_quota: Option<u64>,
    /// Most image data a project may store, e.g. 500GB (B, KB, MB, GB, TB) [default: unlimited]
    #[arg(long, env = "GLINT_STORAGE_QUOTA")]
    pub storage_quota: Option<String>,
    /// Per-project limits from Keystone's unified limits (Glance's `use_keystone_limits`):
    /// `image_size_total`, `image_stage_total` (MiB), `image_count_total` and
    /// `image_count_uploading` of the service `limits_endpoint_*` names (keystone mode)
    #[arg(long, env = "GLINT_USE_KEYSTONE_LIMITS")]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub use_keystone_limits: bool,
    /// The image service's endpoint in Keystone whose limits apply (`[oslo_limit]
    /// endpoint_id`); otherwise the one endpoint of the service type (and name, region)
    #[arg(long, env = "GLINT_LIMITS_ENDPOINT_ID")]
    pub limits_endpoint_id: Option<String>,
    /// The service type that endpoint is looked up by (`[oslo_limit] endpoint_service_type`)
    /// [default: image]
    #[arg(long, env = "GLINT_LIMITS_ENDPOINT_SERVICE_TYPE")]
    pub limits_endpoint_service_type: Option<String>,
    /// The service name that endpoint is looked up by (`[oslo_limit] endpoint_service_name`)
    #[arg(long, env = "GLINT_LIMITS_ENDPOINT_SERVICE_NAME")]
    pub limits_endpoint_service_name: Option<String>,
    /// The region that endpoint is looked up in (`[oslo_limit] endpoint_region_name`)
    #[arg(long, env = "GLINT_LIMITS_ENDPOINT_REGION_NAME")]
    pub limits_endpoint_region_name: Option<String>,
    /// The interface that endpoint is looked up at (`[oslo_limit] endpoint_interface`)
    /// [default: public]
    #[arg(long, env = "GLINT_LIMITS_ENDPOINT_INTERFACE")]
    pub limits_endpoint_interface: Option<String>,
    /// How long a project's limits read from Keystone are used before asking again, in
    /// seconds; 0 asks at every check, as Glance does [default: 0]
    #[arg(long, env = "GLINT_LIMITS_CACHE_SECONDS")]
    pub limits_cache_seconds: Option<u64>,
    /// The URL other servers sharing the database reach this one at (Glance's
    /// `worker_self_reference_url`): an import of data staged here, asked of another server, is
    /// forwarded here
    #[arg(long, env = "GLINT_WORKER_SELF_REFERENCE_URL")]
    pub worker_self_reference_url: Option<String>,
    /// Most data this server's image cache (in the data folder's `cache`) keeps, e.g. 10GB;
    /// 0 turns it off [default: 10GB]
    #[arg(long, env = "GLINT_IMAGE_CACHE_MAX_SIZE")]
    pub image_cache_max_size: Option<String>,
    /// Show image locations and let them be changed (Glance's `show_multiple_locations`)
    /// [default: false]
    #[arg(long, env = "GLINT_SHOW_MULTIPLE_LOCATIONS")]
    pub show_multiple_locations: Option<bool>,
    /// Convert imported images to this format before storing them: `raw`, `qcow2` or `vmdk`
    /// (Glance's `image_conversion` plugin and its `output_format`); unset, no conversion
    #[arg(long, env = "GLINT_IMAGE_CONVERSION_OUTPUT_FORMAT")]
    pub image_conversion_output_format: Option<String>,
    /// Properties set on images imported by users without one of --inject-ignore-user-roles,
    /// `key:value,...` (Glance's `inject_image_metadata` plugin,
    /// `[inject_metadata_properties] inject`)
    #[arg(long, env = "GLINT_INJECT_METADATA_PROPERTIES", value_delimiter = ',')]
    pub inject_metadata_properties: Option<Vec<String>>,
    /// Roles whose imports get no injected properties (`ignore_user_roles`) [default: admin]
    #[arg(long, env = "GLINT_INJECT_IGNORE_USER_ROLES", value_delimiter = ',')]
    pub inject_ignore_user_roles: Option<Vec<String>>,
    /// Decompress imported data that is gzip, single-file zip, xz or zstd before it is
    /// inspected, converted and stored (Glance's `image_decompression` plugin; images of
    /// container format `compressed` are left as they are)
    #[arg(long, env = "GLINT_IMAGE_DECOMPRESSION")]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub image_decompression: bool,
    /// Seconds a conversion may run (wall clock, and qemu-img's CPU time) [default: 1800]
    #[arg(long, env = "GLINT_IMAGE_CONVERSION_TIMEOUT")]
    pub image_conversion_timeout: Option<u64>,
    /// qemu-img's address space during a conversion, e.g. 1GB [default: 1GB]
    #[arg(long, env = "GLINT_IMAGE_CONVERSION_MEMORY")]
    pub image_conversion_memory: Option<String>,
    /// The algorithm of images' secure hash, `os_hash_value` (Glance's `hashing_algorithm`):
    /// sha224, sha256, sha384, sha512 or blake2b; md5 `checksum` is computed as well
    /// [default: sha512]
    #[arg(long, env = "GLINT_HASHING_ALGORITHM")]
    pub hashing_algorithm: Option<String>,
    /// A policy file (Glance's `[oslo_policy] policy_file`, YAML or JSON): rules in oslo.policy's
    /// language over Glance's defaults, read again when it changes
    #[arg(long, env = "GLINT_POLICY_FILE")]
    pub policy_file: Option<PathBuf>,
    /// Show each image's first location as `direct_url` (Glance's `show_image_direct_url`; Nova
    /// and Cinder need it, or the service-only locations API, to clone RBD images)
    /// [default: false]
    #[arg(long, env = "GLINT_SHOW_IMAGE_DIRECT_URL")]
    pub show_image_direct_url: Option<bool>,
    /// The import methods offered and accepted, comma separated, of glance-direct,
    /// web-download, copy-image and glance-download (Glance's `enabled_import_methods`)
    /// [default: glance-direct,web-download,copy-image]
    #[arg(long, env = "GLINT_ENABLED_IMPORT_METHODS", value_delimiter = ',')]
    pub enabled_import_methods: Option<Vec<String>>,
    /// The largest image accepted, e.g. 100GB (B, KB, MB, GB, TB) [default: 1TB]
    #[arg(long, env = "GLINT_IMAGE_SIZE_CAP")]
    pub image_size_cap: Option<String>,
    /// How long tokens issued at login stay valid, in seconds [default: 86400]
    #[arg(long, env = "GLINT_TOKEN_TTL")]
    pub token_ttl: Option<i64>,
    /// This server's name among several sharing one database [default: glint]
    #[arg(long, env = "GLINT_NODE_NAME")]
    pub node_name: Option<String>,
    /// Where image data goes: `fs` (files under the data folder), `s3` or `rbd` (a Ceph pool)
    /// [default: fs]
    #[arg(long, env = "GLINT_STORE", value_enum)]
    pub store: Option<DataStore>,
    /// The S3 endpoint, e.g. http://127.0.0.1:9000 (none for AWS itself)
    #[arg(long, env = "GLINT_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// The S3 region [default: us-east-1]
    #[arg(long, env = "GLINT_S3_REGION")]
    pub s3_region: Option<String>,
    /// The bucket images go to (it must exist)
    #[arg(long, env = "GLINT_S3_BUCKET")]
    pub s3_bucket: Option<String>,
    /// S3 access key
    #[arg(long, env = "GLINT_S3_ACCESS_KEY", hide_env_values = true)]
    pub s3_access_key: Option<String>,
    /// S3 secret key
    #[arg(long, env = "GLINT_S3_SECRET_KEY", hide_env_values = true)]
    pub s3_secret_key: Option<String>,
    /// Path-style addressing (endpoint/bucket/key) rather than virtual-hosted (bucket.endpoint)
    /// [default: true]
    #[arg(long, env = "GLINT_S3_PATH_STYLE")]
    pub s3_path_style: Option<bool>,
    /// The Ceph pool images go to with `--store rbd` (`rbd_store_pool`) [default: images]
    #[arg(long, env = "GLINT_RBD_STORE_POOL")]
    pub rbd_store_pool: Option<String>,
    /// The Ceph configuration file (`rbd_store_ceph_conf`) [default: Ceph's search path,
    /// /etc/ceph/ceph.conf]
    #[arg(long, env = "GLINT_RBD_STORE_CEPH_CONF")]
    pub rbd_store_ceph_conf: Option<PathBuf>,
    /// The cephx user, e.g. `glance` (`rbd_store_user`); its key is found through the keyring
    /// the Ceph configuration names [default: the configuration's, usually admin]
    #[arg(long, env = "GLINT_RBD_STORE_USER")]
    pub rbd_store_user: Option<String>,
    /// The RBD object size in MiB, a power of two (`rbd_store_chunk_size`) [default: 8]
    #[arg(long, env = "GLINT_RBD_STORE_CHUNK_SIZE")]
    pub rbd_store_chunk_size: Option<u64>,
    /// Seconds to wait for the Ceph cluster when connecting (`rados_connect_timeout`; 0:
    /// librados's own) [default: 0]
    #[arg(long, env = "GLINT_RADOS_CONNECT_TIMEOUT")]
    pub rados_connect_timeout: Option<u64>,
    /// Runs of zeros in uploads are not written to RBD, leaving the image sparse
    /// (`rbd_thin_provisioning`) [default: false]
    #[arg(long, env = "GLINT_RBD_THIN_PROVISIONING")]
    pub rbd_thin_provisioning: Option<bool>,
    /// Seconds after which a server sharing the database that has not been heard from is taken
    /// for dead, and its unfinished uploads are queued again [default: 30]
    #[arg(long, env = "GLINT_NODE_TIMEOUT")]
    pub node_timeout: Option<u64>,
    /// Hosts (`host` or `host:port`, comma separated) the web-download import may fetch from
    /// even when they are internal addresses or use other ports than 80 and 443
    #[arg(long, env = "GLINT_WEB_DOWNLOAD_ALLOW", value_delimiter = ',')]
    pub web_download_allow: Option<Vec<String>>,
    /// URI schemes the server may fetch images from; when set, only these
    /// [default: http,https]
    #[arg(long, env = "GLINT_IMPORT_ALLOWED_SCHEMES", value_delimiter = ',')]
    pub import_allowed_schemes: Option<Vec<String>>,
    /// URI schemes refused (when no allowed schemes are set)
    #[arg(long, env = "GLINT_IMPORT_DISALLOWED_SCHEMES", value_delimiter = ',')]
    pub import_disallowed_schemes: Option<Vec<String>>,
    /// Hosts the server may fetch images from; when set, only these, and they may be internal
    /// addresses
    #[arg(long, env = "GLINT_IMPORT_ALLOWED_HOSTS", value_delimiter = ',')]
    pub import_allowed_hosts: Option<Vec<String>>,
    /// Hosts refused (when no allowed hosts are set)
    #[arg(long, env = "GLINT_IMPORT_DISALLOWED_HOSTS", value_delimiter = ',')]
    pub import_disallowed_hosts: Option<Vec<String>>,
    /// Ports the server may fetch images from; when set, only these [default: 80,443]
    #[arg(long, env = "GLINT_IMPORT_ALLOWED_PORTS", value_delimiter = ',')]
    pub import_allowed_ports: Option<Vec<String>>,
    /// Ports refused (when no allowed ports are set)
    #[arg(long, env = "GLINT_IMPORT_DISALLOWED_PORTS", value_delimiter = ',')]
    pub import_disallowed_ports: Option<Vec<String>>,
    /// Seconds a fetch from a URI may wait for the source's next bytes [default: 60]
    #[arg(long, env = "GLINT_IMPORT_READ_TIMEOUT")]
    pub import_read_timeout: Option<u64>,
    /// Named file stores, `id=path` (comma separated): several stores, as Glance's
    /// `enabled_backends` (a TOML file also sets descriptions and weights, and S3 stores)
    #[arg(long, env = "GLINT_FILE_STORES", value_delimiter = ',')]
    #[serde(skip)]
    pub file_stores: Vec<String>,
    /// The store that takes data no store was asked for [default: the first]
    #[arg(long, env = "GLINT_DEFAULT_STORE")]
    pub default_store: Option<String>,
    /// Where notifications go (Glance's `[oslo_messaging_notifications] driver`): `messagingv2`
    /// (RabbitMQ, oslo.messaging's v2 envelope), `messaging` (the v1 body), `log` or `noop`
    /// [default: noop]
    #[arg(long, env = "GLINT_NOTIFICATION_DRIVER", value_enum)]
    pub notification_driver: Option<NotificationDriver>,
    /// The broker, as oslo.messaging's `transport_url` writes it:
    /// rabbit://user:password@host:5672/vhost
    #[arg(long, env = "GLINT_NOTIFICATION_TRANSPORT_URL", hide_env_values = true)]
    pub notification_transport_url: Option<String>,
    /// The topics notifications are sent to (`[oslo_messaging_notifications] topics`)
    /// [default: notifications]
    #[arg(long, env = "GLINT_NOTIFICATION_TOPICS", value_delimiter = ',')]
    pub notification_topics: Option<Vec<String>>,
    /// The exchange notifications are sent to (`control_exchange`) [default: glance]
    #[arg(long, env = "GLINT_CONTROL_EXCHANGE")]
    pub control_exchange: Option<String>,
    /// Event types, or their groups (`image`, `task`, ...), that are not sent
    /// (`disabled_notifications`)
    #[arg(long, env = "GLINT_DISABLED_NOTIFICATIONS", value_delimiter = ',')]
    pub disabled_notifications: Option<Vec<String>>,
    /// The publisher every notification names (`default_publisher_id`)
    /// [default: image.localhost]
    #[arg(long, env = "GLINT_DEFAULT_PUBLISHER_ID")]
    pub default_publisher_id: Option<String>,
    /// URLs that every notification is also POSTed to, as JSON, signed (the
    /// `X-Glint-Signature-256` header: `sha256=` and the HMAC-SHA256 of the body, hex) and
    /// retried until the receiver takes it; each URL is sent on its own, in order
    #[arg(long, env = "GLINT_NOTIFICATION_WEBHOOK_URLS", value_delimiter = ',')]
    pub notification_webhook_urls: Option<Vec<String>>,
    /// The file holding the key webhook notifications are signed with (needed with
    /// notification_webhook_urls)
    #[arg(long, env = "GLINT_NOTIFICATION_WEBHOOK_SECRET_FILE")]
    pub notification_webhook_secret_file: Option<PathBuf>,
    /// Also serve `/metrics` on this address (for a scraper kept off the API's network);
    /// `/metrics` stays on the API's address too
    #[arg(long, env = "GLINT_METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,
    /// While this file exists, `/healthcheck` answers 503 `DISABLED BY FILE`, so a load
    /// balancer takes the server out (oslo.middleware's `disable_by_file_path`)
    #[arg(long, env = "GLINT_HEALTHCHECK_DISABLE_FILE")]
    pub healthcheck_disable_file: Option<PathBuf>,
    /// A TOML file with any of these settings (keys as the flags, with `_` for `-`)
    #[arg(long, env = "GLINT_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Named stores, with their kinds, descriptions and weights (`[[stores]]`: the file only)
    #[arg(skip)]
    pub stores: Option<Vec<StoreConfig>>,
}

impl ServeArgs {
    /// These settings (flags and environment) over `file`'s: a setting given here replaces
    /// the file's; the flag-only ones are taken from here.
    fn over(&self, file: ServeArgs) -> Result<ServeArgs, StartError> {
        let broken = |e: serde_json::Error| StartError::Config {
            message: format!("settings: {e}"),
        };
        let mut merged = serde_json::to_value(file).map_err(broken)?;
        let given = serde_json::to_value(self).map_err(broken)?;
        if let (Some(merged), Some(given)) = (merged.as_object_mut(), given.as_object()) {
            for (key, value) in given.iter().filter(|(_, v)| !v.is_null()) {
                merged.insert(key.clone(), value.clone());
            }
        }
        let mut out: ServeArgs = serde_json::from_value(merged).map_err(broken)?;
        out.admin_password = self.admin_password.clone();
        out.admin_token = self.admin_token.clone();
        out.file_stores = self.file_stores.clone();
        out.config = self.config.clone();
        Ok(out)
    }
}

/// One named store (`[[stores]]` in the TOML file).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    pub id: String,
    /// `fs` (a folder), `s3` (a prefix in the bucket the S3 settings name), `rbd` (a Ceph
    /// pool) or `http` (read-only: data at http(s) locations).
    #[serde(default)]
    pub kind: StoreKind,
    /// The folder of an `fs` store [default: stores/<id> in the data folder].
    pub path: Option<PathBuf>,
    pub description: Option<String>,
    #[serde(default)]
    pub weight: i64,
    #[serde(default)]
    pub read_only: bool,
    /// An `rbd` store's pool [default: images].
    pub rbd_store_pool: Option<String>,
    /// An `rbd` store's Ceph configuration [default: Ceph's search path].
    pub rbd_store_ceph_conf: Option<PathBuf>,
    /// An `rbd` store's cephx user.
    pub rbd_store_user: Option<String>,
    /// An `rbd` store's object size in MiB [default: 8].
    pub rbd_store_chunk_size: Option<u64>,
    /// Seconds to wait for an `rbd` store's cluster [default: 0, librados's own].
    pub rados_connect_timeout: Option<u64>,
    /// Whether an `rbd` store skips runs of zeros [default: false].
    pub rbd_thin_provisioning: Option<bool>,
    /// An `s3` store's key prefix in the bucket [default: stores/<id>]; "" is the bucket's
    /// root, where Glance's s3 store keeps its objects (adopted in place).
    pub s3_prefix: Option<String>,
}

impl StoreConfig {
    /// A store of `kind` with nothing else set.
    pub fn new(id: &str, kind: StoreKind) -> StoreConfig {
        StoreConfig {
            id: id.into(),
            kind,
            path: None,
            description: None,
            weight: 0,
            read_only: false,
            rbd_store_pool: None,
            rbd_store_ceph_conf: None,
            rbd_store_user: None,
            rbd_store_chunk_size: None,
            rados_connect_timeout: None,
            rbd_thin_provisioning: None,
            s3_prefix: None,
        }
    }

    /// The RBD settings of an `rbd` store, checked.
    pub fn rbd_settings(&self) -> Result<crate::store::RbdSettings, StartError> {
        rbd_settings(
            &format!("store {}", self.id),
            self.rbd_store_pool.clone(),
            self.rbd_store_ceph_conf.clone(),
            self.rbd_store_user.clone(),
            self.rbd_store_chunk_size,
            self.rados_connect_timeout,
            self.rbd_thin_provisioning,
        )
    }

    fn has_rbd_settings(&self) -> bool {
        self.rbd_store_pool.is_some()
            || self.rbd_store_ceph_conf.is_some()
            || self.rbd_store_user.is_some()
            || self.rbd_store_chunk_size.is_some()
            || self.rados_connect_timeout.is_some()
            || self.rbd_thin_provisioning.is_some()
    }
}

fn rbd_settings(
    what: &str,
    pool: Option<String>,
    ceph_conf: Option<PathBuf>,
    user: Option<String>,
    chunk_mib: Option<u64>,
    connect_timeout: Option<u64>,
    thin: Option<bool>,
) -> Result<crate::store::RbdSettings, StartError> {
    let chunk_mib = chunk_mib.unwrap_or(8);
    if !chunk_mib.is_power_of_two() || chunk_mib > 1024 {
        return Err(StartError::Config {
            message: format!(
                "{what}: rbd_store_chunk_size is in MiB and must be a power of two up to 1024: {chunk_mib}"
            ),
        });
    }
    let pool = pool.unwrap_or_else(|| "images".into());
    if pool.is_empty() {
        return Err(StartError::Config {
            message: format!("{what}: rbd_store_pool is empty"),
        });
    }
    Ok(crate::store::RbdSettings {
        pool,
        ceph_conf,
        user: user.filter(|u| !u.is_empty()),
        chunk_size: chunk_mib << 20,
        connect_timeout: connect_timeout.unwrap_or(0),
        thin_provisioning: thin.unwrap_or(false),
    })
}

/// How callers are authenticated: Glint's own accounts, or Keystone's tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    #[default]
    Local,
    Keystone,
}

/// Where the one store of a deployment without named stores keeps data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DataStore {
    /// Files under the data folder.
    #[default]
    Fs,
    /// The S3 bucket the S3 settings name.
    S3,
    /// A Ceph pool (the `rbd_store_*` settings).
    Rbd,
}

/// The kind of a named store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// A folder.
    #[default]
    Fs,
    /// A prefix in the bucket the S3 settings name.
    S3,
    /// A Ceph pool.
    Rbd,
    /// Read-only: data at http(s) locations.
    Http,
}

impl StoreKind {
    /// The kind as `/v2/info/stores/detail` names it (Glance's names).
    pub fn glance_name(self) -> &'static str {
        match self {
            StoreKind::Fs => "file",
            StoreKind::S3 => "s3",
            StoreKind::Rbd => "rbd",
            StoreKind::Http => "http",
        }
    }
}

/// Where notifications go (Glance's `[oslo_messaging_notifications] driver`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum NotificationDriver {
    /// RabbitMQ, each message in oslo.messaging's v2 envelope.
    #[value(name = "messagingv2")]
    Messagingv2,
    /// RabbitMQ, the message itself as the body (oslo.messaging's v1).
    Messaging,
    /// The server's log, at `glint::notifications`.
    Log,
    /// Nowhere.
    #[default]
    Noop,
}

impl NotificationDriver {
    /// Whether notifications go to RabbitMQ (through the outbox).
    pub fn uses_broker(self) -> bool {
        matches!(
            self,
            NotificationDriver::Messagingv2 | NotificationDriver::Messaging
        )
    }
}

/// What notifications need.
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationSettings {
    pub driver: NotificationDriver,
    /// The broker's `rabbit://` URL (the RabbitMQ drivers).
    pub transport_url: Option<String>,
    pub topics: Vec<String>,
    pub exchange: String,
    /// Event types and groups not sent.
    pub disabled: Vec<String>,
    pub publisher_id: String,
    /// Where notifications are also POSTed.
    pub webhooks: Vec<String>,
    /// What webhook notifications are signed with.
    pub webhook_secret: Option<Secret>,
}

/// A key that is never shown (in logs, `Debug` output or errors).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// How Glint authenticates Keystone tokens (keystone mode).
#[derive(Debug, Clone)]
pub struct KeystoneConfig {
    pub url: String,
    pub username: String,
    pub password: String,
    pub project: String,
    pub user_domain: String,
    pub project_domain: String,
    pub cache_seconds: u64,
}

/// Where a keystone-mode Glint reads its projects' limits (Keystone's unified limits).
#[derive(Debug, Clone, PartialEq)]
pub struct KeystoneLimitsConfig {
    pub endpoint_id: Option<String>,
    pub service_type: String,
    pub service_name: Option<String>,
    pub region_name: Option<String>,
    pub interface: String,
    pub cache_seconds: u64,
}

/// `key:value` pairs (oslo.config's DictOpt), each key a property an import may be given.
fn inject_pairs(
    pairs: Option<&[String]>,
) -> Result<std::collections::BTreeMap<String, String>, StartError> {
    let mut out = std::collections::BTreeMap::new();
    for pair in pairs.unwrap_or_default() {
        let bad = |why: &str| StartError::Config {
            message: format!("inject_metadata_properties: '{pair}': {why}"),
        };
        let (key, value) = pair
            .split_once(':')
            .ok_or_else(|| bad("expected key:value"))?;
        let key = key.trim();
        if key.is_empty() || key.chars().count() > 255 {
            return Err(bad("a key is 1 to 255 characters"));
        }
        if glint_core::keys::classify(key) != glint_core::keys::KeyClass::Custom {
            return Err(bad("not a property an image may be given"));
        }
        out.insert(key.to_string(), value.trim().to_string());
    }
    Ok(out)
}

/// The TOML file's settings (none without a file).
fn read_file(path: Option<&Path>) -> Result<ServeArgs, StartError> {
    let Some(path) = path else {
        return Ok(ServeArgs::default());
    };
    let text = std::fs::read_to_string(path).map_err(|e| StartError::Config {
        message: format!("cannot read {}: {e}", path.display()),
    })?;
    toml::from_str::<ServeArgs>(&text).map_err(|e| StartError::Config {
        message: format!("{}: {e}", path.display()),
    })
}

/// Where the database is: all the administration commands (`glint user`, `project`, `token`,
/// `metadefs`) need, read as `glint serve` reads it.
#[derive(Debug, Clone, Default, Args)]
pub struct DbArgs {
    /// Folder for the SQLite database [default: glint-data]
    #[arg(long, env = "GLINT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL, `sqlite:PATH` or `postgres://...` [default: sqlite in the data folder]
    #[arg(long, env = "GLINT_DATABASE_URL")]
    pub database_url: Option<String>,
    /// The server's TOML file, whose data_dir and database_url are used
    #[arg(long, env = "GLINT_CONFIG")]
    pub config: Option<PathBuf>,
}

impl DbArgs {
    /// The database URL: flags and environment over the file over the default.
    pub fn database_url(&self) -> Result<String, StartError> {
        let file = read_file(self.config.as_deref())?;
        let data_dir = self
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("glint-data"));
        Ok(self
            .database_url
            .clone()
            .or(file.database_url)
            .unwrap_or_else(|| sqlite_url(&data_dir)))
    }

    /// The notification settings of the servers this database serves, from the `GLINT_*`
    /// environment over the file, as `glint serve` reads them: a maintenance command writes
    /// the notifications of what it changes to the outbox they send.
    pub fn notification_settings(&self) -> Result<NotificationSettings, StartError> {
        let command = ServeArgs::augment_args(clap::Command::new("glint").no_binary_name(true));
        let matches = command
            .try_get_matches_from(std::iter::empty::<String>())
            .map_err(|e| StartError::Config {
                message: format!("settings in the environment: {e}"),
            })?;
        let env = <ServeArgs as clap::FromArgMatches>::from_arg_matches(&matches).map_err(|e| {
            StartError::Config {
                message: format!("settings in the environment: {e}"),
            }
        })?;
        let path = self.config.clone().or(env.config.clone());
        notification_settings(&env.over(read_file(path.as_deref())?)?)
    }
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub ui_dir: PathBuf,
    pub node_name: String,
    /// Seconds of silence after which another server's uploads are queued again.
    pub node_timeout: u64,
    /// What the server may fetch on a user's behalf (web-download, import tasks).
    pub import_filter: crate::webdownload::ImportFilter,
    pub require_format_match: bool,
    pub insecure_noauth: bool,
    /// Keystone mode when set; Glint's own accounts otherwise.
    pub keystone: Option<KeystoneConfig>,
    /// Image data in S3 when set; in files under the data folder otherwise.
    pub s3: Option<crate::store::S3Settings>,
    /// Image data in a Ceph pool when set (`--store rbd`, one store).
    pub rbd: Option<crate::store::RbdSettings>,
    /// Named stores (multi-store); none for the one store above.
    pub stores: Vec<StoreConfig>,
    pub default_store: Option<String>,
    pub admin_password: Option<String>,
    pub admin_token: Option<String>,
    pub token_ttl: i64,
    pub property_protections: Option<PathBuf>,
    /// The image schema's additional properties and required ones.
    pub image_schema: glint_core::schema::ImageSchema,
    pub image_quota: Option<u64>,
    pub storage_quota: Option<u64>,
    /// Keystone's unified limits, when they apply instead of `image_quota` and `storage_quota`.
    pub keystone_limits: Option<KeystoneLimitsConfig>,
    /// The largest image accepted, in bytes.
    pub image_size_cap: u64,
    /// Whether locations are shown and may be changed (Glance's `show_multiple_locations`).
    pub show_multiple_locations: bool,
    /// Whether images show their first location as `direct_url`.
    pub show_image_direct_url: bool,
    /// The algorithm of new data's `os_hash_value`.
    pub hashing_algorithm: crate::hashing::Algorithm,
    /// The operator's policy file, over Glance's defaults.
    pub policy_file: Option<PathBuf>,
    /// Imports are converted to this format when set (`raw`, `qcow2` or `vmdk`).
    pub image_conversion_output_format: Option<String>,
    /// Properties injected into users' imports, and the roles left alone.
    pub inject_metadata_properties: std::collections::BTreeMap<String, String>,
    pub inject_ignore_user_roles: Vec<String>,
    /// Whether imports are decompressed (Glance's `image_decompression`).
    pub image_decompression: bool,
    /// Longest a conversion may run, in seconds.
    pub image_conversion_timeout: u64,
    /// qemu-img's address space during a conversion, in bytes.
    pub image_conversion_memory: u64,
    /// The import methods offered and accepted (Glance's `enabled_import_methods`).
    pub enabled_import_methods: Vec<ImportMethod>,
    /// Where other servers reach this one, for imports of data staged here.
    pub worker_self_reference_url: Option<String>,
    /// Most bytes the image cache keeps (0: no cache).
    pub image_cache_max_size: u64,
    /// How often the planner's statistics are looked at (and refreshed where stale).
    pub maintenance_every: std::time::Duration,
    /// Where notifications go.
    pub notifications: NotificationSettings,
    /// While this file exists the server says it is unavailable.
    pub healthcheck_disable_file: Option<PathBuf>,
    /// A second address serving only `/metrics`.
    pub metrics_bind: Option<SocketAddr>,
}

impl Config {
    /// Defaults for a server whose data lives in `data_dir` (used by tests).
    pub fn for_data_dir(data_dir: &Path) -> Config {
        let args = ServeArgs {
            data_dir: Some(data_dir.to_path_buf()),
            ..ServeArgs::default()
        };
        Config::resolve(args).expect("the defaults are valid")
    }

    /// Resolves flags and environment (already merged by clap) over the TOML file and defaults.
    pub fn resolve(args: ServeArgs) -> Result<Config, StartError> {
        let a = args.over(read_file(args.config.as_deref())?)?;
        let keystone = match a.auth.unwrap_or_default() {
            AuthMode::Local => None,
            AuthMode::Keystone => {
                let need = |value, name| required(value, "--auth keystone", name);
                Some(KeystoneConfig {
                    url: need(a.keystone_url.clone(), "GLINT_KEYSTONE_URL")?,
                    username: need(a.keystone_username.clone(), "GLINT_KEYSTONE_USERNAME")?,
                    password: need(a.keystone_password.clone(), "GLINT_KEYSTONE_PASSWORD")?,
                    project: a
                        .keystone_project
                        .clone()
                        .unwrap_or_else(|| "service".into()),
                    user_domain: a
                        .keystone_user_domain
                        .clone()
                        .unwrap_or_else(|| "Default".into()),
                    project_domain: a
                        .keystone_project_domain
                        .clone()
                        .unwrap_or_else(|| "Default".into()),
                    cache_seconds: a.keystone_cache_seconds.unwrap_or(300),
                })
            }
        };
        let s3 = match a.store.unwrap_or_default() {
            DataStore::Fs | DataStore::Rbd => None,
            DataStore::S3 => {
                let need = |value, name| required(value, "--store s3", name);
                Some(crate::store::S3Settings {
                    endpoint: a.s3_endpoint.clone(),
                    region: a.s3_region.clone().unwrap_or_else(|| "us-east-1".into()),
                    bucket: need(a.s3_bucket.clone(), "GLINT_S3_BUCKET")?,
                    access_key: need(a.s3_access_key.clone(), "GLINT_S3_ACCESS_KEY")?,
                    secret_key: need(a.s3_secret_key.clone(), "GLINT_S3_SECRET_KEY")?,
                    path_style: a.s3_path_style.unwrap_or(true),
                })
            }
        };
        if a.insecure_noauth && keystone.is_some() {
            return Err(StartError::Config {
                message: "--insecure-noauth and --auth keystone exclude each other".into(),
            });
        }
        let keystone_limits = match (a.use_keystone_limits, &keystone) {
            (false, _) => None,
            (true, None) => {
                return Err(StartError::Config {
                    message: "use_keystone_limits needs --auth keystone".into(),
                });
            }
            (true, Some(_)) if a.image_quota.is_some() || a.storage_quota.is_some() => {
                return Err(StartError::Config {
                    message: "image_quota and storage_quota are Glint's own limits: with \
                              use_keystone_limits, Keystone's limits apply"
                        .into(),
                });
            }
            (true, Some(_)) => Some(KeystoneLimitsConfig {
                endpoint_id: a.limits_endpoint_id.clone(),
                service_type: a
                    .limits_endpoint_service_type
                    .clone()
                    .unwrap_or_else(|| "image".into()),
                service_name: a.limits_endpoint_service_name.clone(),
                region_name: a.limits_endpoint_region_name.clone(),
                interface: a
                    .limits_endpoint_interface
                    .clone()
                    .unwrap_or_else(|| "public".into()),
                cache_seconds: a.limits_cache_seconds.unwrap_or(0),
            }),
        };
        let import_filter = import_filter(&a)?;
        let enabled_import_methods = match &a.enabled_import_methods {
            Some(names) => import_methods(names)?,
            None => ImportMethod::DEFAULT.to_vec(),
        };
        if enabled_import_methods.contains(&ImportMethod::GlanceDownload) && keystone.is_none() {
            return Err(StartError::Config {
                message: "the glance-download import method needs --auth keystone".into(),
            });
        }
        let stores = match a.file_stores.is_empty() {
            false => a
                .file_stores
                .iter()
                .map(|s| {
                    let (id, path) = s.split_once('=').ok_or_else(|| StartError::Config {
                        message: format!("--file-stores: '{s}' is not id=path"),
                    })?;
                    Ok(StoreConfig {
                        path: Some(PathBuf::from(path.trim())),
                        ..StoreConfig::new(id.trim(), StoreKind::Fs)
                    })
                })
                .collect::<Result<Vec<_>, StartError>>()?,
            true => a.stores.clone().unwrap_or_default(),
        };
        for s in &stores {
            if s.kind != StoreKind::S3 && s.s3_prefix.is_some() {
                return Err(StartError::Config {
                    message: format!("store {}: s3_prefix is for stores of kind s3", s.id),
                });
            }
            if s.kind == StoreKind::S3 && s3.is_none() {
                return Err(StartError::Config {
                    message: format!("store {} is an S3 store: the S3 settings are needed", s.id),
                });
            }
            match s.kind {
                StoreKind::Rbd => {
                    s.rbd_settings()?;
                }
                _ if s.has_rbd_settings() => {
                    return Err(StartError::Config {
                        message: format!(
                            "store {}: rbd_* settings are for stores of kind rbd",
                            s.id
                        ),
                    });
                }
                _ => {}
            }
        }
        let rbd = match a.store.unwrap_or_default() {
            DataStore::Rbd => Some(rbd_settings(
                "--store rbd",
                a.rbd_store_pool.clone(),
                a.rbd_store_ceph_conf.clone(),
                a.rbd_store_user.clone(),
                a.rbd_store_chunk_size,
                a.rados_connect_timeout,
                a.rbd_thin_provisioning,
            )?),
            _ => None,
        };
        let notifications = notification_settings(&a)?;
        let size = |value: &Option<String>, what: &str, example: &str, default: u64| match value {
            Some(v) => parse_bytes(v).ok_or_else(|| StartError::Config {
                message: format!("{what} '{v}': expected a size such as {example}"),
            }),
            None => Ok(default),
        };
        let data_dir = a
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("glint-data"));
        let config = Config {
            bind: a
                .bind
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9292))),
            database_url: a
                .database_url
                .clone()
                .unwrap_or_else(|| sqlite_url(&data_dir)),
            ui_dir: a
                .ui_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from("web-ui/dist")),
            node_name: a.node_name.clone().unwrap_or_else(|| "glint".into()),
            node_timeout: a.node_timeout.unwrap_or(30).max(3),
            import_filter,
            require_format_match: a.require_format_match.unwrap_or(true),
            insecure_noauth: a.insecure_noauth,
            keystone,
            s3,
            rbd,
            stores,
            default_store: a.default_store.clone(),
            admin_password: a.admin_password.clone(),
            admin_token: a.admin_token.clone(),
            token_ttl: a.token_ttl.unwrap_or(86_400).max(60),
            property_protections: a.property_protections.clone(),
            image_schema: match &a.image_schema_file {
                None => glint_core::schema::ImageSchema::glance_default(),
                Some(file) => {
                    let text = std::fs::read_to_string(file).map_err(|e| StartError::Config {
                        message: format!("cannot read {}: {e}", file.display()),
                    })?;
                    glint_core::schema::ImageSchema::parse(&text).map_err(|e| {
                        StartError::Config {
                            message: format!("{}: {e}", file.display()),
                        }
                    })?
                }
            },
            image_quota: a.image_quota,
            storage_quota: match &a.storage_quota {
                Some(_) => Some(size(&a.storage_quota, "storage quota", "500GB", 0)?),
                None => None,
            },
            keystone_limits,
            image_cache_max_size: size(
                &a.image_cache_max_size,
                "image cache size",
                "10GB",
                IMAGE_CACHE_MAX_SIZE,
            )?,
            maintenance_every: std::time::Duration::from_secs(15),
            notifications,
            healthcheck_disable_file: a.healthcheck_disable_file.clone(),
            metrics_bind: a.metrics_bind,
            worker_self_reference_url: a
                .worker_self_reference_url
                .as_deref()
                .map(|u| u.trim_end_matches('/').to_string()),
            show_multiple_locations: a.show_multiple_locations.unwrap_or(false),
            show_image_direct_url: a.show_image_direct_url.unwrap_or(false),
            policy_file: a.policy_file.clone(),
            hashing_algorithm: match a.hashing_algorithm.as_deref() {
                None => crate::hashing::Algorithm::default(),
                Some(name) => {
                    crate::hashing::Algorithm::parse(name).ok_or_else(|| StartError::Config {
                        message: format!(
                            "hashing algorithm '{name}': expected one of {}",
                            crate::hashing::Algorithm::ALL.map(|a| a.name()).join(", ")
                        ),
                    })?
                }
            },
            image_conversion_output_format: match &a.image_conversion_output_format {
                Some(f) if ["raw", "qcow2", "vmdk"].contains(&f.as_str()) => Some(f.clone()),
                Some(f) => {
                    return Err(StartError::Config {
                        message: format!(
                            "image conversion output format '{f}': expected raw, qcow2 or vmdk"
                        ),
                    });
                }
                None => None,
            },
            inject_metadata_properties: inject_pairs(a.inject_metadata_properties.as_deref())?,
            inject_ignore_user_roles: a
                .inject_ignore_user_roles
                .clone()
                .map(|roles| {
                    roles
                        .iter()
                        .map(|r| r.trim().to_string())
                        .filter(|r| !r.is_empty())
                        .collect()
                })
                .unwrap_or_else(|| vec!["admin".into()]),
            image_decompression: a.image_decompression,
            image_conversion_timeout: a.image_conversion_timeout.unwrap_or(1800).max(1),
            image_conversion_memory: size(
                &a.image_conversion_memory,
                "image conversion memory",
                "1GB",
                1 << 30,
            )?,
            enabled_import_methods,
            image_size_cap: size(&a.image_size_cap, "image size cap", "100GB", IMAGE_SIZE_CAP)?,
            data_dir,
        };
        // What is injected must be what the image schema allows.
        for (key, value) in &config.inject_metadata_properties {
            config
                .image_schema
                .check(key, value)
                .map_err(|e| StartError::Config {
                    message: format!("inject_metadata_properties: {e}"),
                })?;
        }
        Ok(config)
    }
}

/// An import method (Glance's `enabled_import_methods` choices).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportMethod {
    GlanceDirect,
    WebDownload,
    CopyImage,
    GlanceDownload,
}

impl ImportMethod {
    /// Glance's default list.
    pub const DEFAULT: [ImportMethod; 3] = [
        ImportMethod::GlanceDirect,
        ImportMethod::WebDownload,
        ImportMethod::CopyImage,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ImportMethod::GlanceDirect => "glance-direct",
            ImportMethod::WebDownload => "web-download",
            ImportMethod::CopyImage => "copy-image",
            ImportMethod::GlanceDownload => "glance-download",
        }
    }

    pub fn parse(name: &str) -> Option<ImportMethod> {
        [
            ImportMethod::GlanceDirect,
            ImportMethod::WebDownload,
            ImportMethod::CopyImage,
            ImportMethod::GlanceDownload,
        ]
        .into_iter()
        .find(|m| m.name() == name)
    }
}

/// The notification settings: a RabbitMQ driver needs its broker.
fn notification_settings(a: &ServeArgs) -> Result<NotificationSettings, StartError> {
    let driver = a.notification_driver.unwrap_or_default();
    let transport_url = a.notification_transport_url.clone();
    if driver.uses_broker()
        && !transport_url
            .as_deref()
            .is_some_and(|u| u.starts_with("rabbit://"))
    {
        return Err(StartError::Config {
            message: "the messaging notification drivers need GLINT_NOTIFICATION_TRANSPORT_URL \
                      (rabbit://user:password@host:5672/)"
                .into(),
        });
    }
    let list = |values: &Option<Vec<String>>| -> Vec<String> {
        values
            .iter()
            .flatten()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect()
    };
    let topics = match list(&a.notification_topics) {
        t if t.is_empty() => vec!["notifications".to_string()],
        t => t,
    };
    let webhooks = list(&a.notification_webhook_urls);
    for url in &webhooks {
        let fine = reqwest::Url::parse(url)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
        if !fine {
            return Err(StartError::Config {
                message: format!("notification webhook URL '{url}': expected http(s)://host/..."),
            });
        }
    }
    let webhook_secret = match &a.notification_webhook_secret_file {
        Some(path) => {
            let key = std::fs::read(path).map_err(|e| StartError::Config {
                message: format!("notification webhook secret {}: {e}", path.display()),
            })?;
            let key = key.trim_ascii().to_vec();
            if key.is_empty() {
                return Err(StartError::Config {
                    message: format!("notification webhook secret {} is empty", path.display()),
                });
            }
            Some(Secret(key))
        }
        None => None,
    };
    if !webhooks.is_empty() && webhook_secret.is_none() {
        return Err(StartError::Config {
            message: "notification webhooks are signed: give \
                      GLINT_NOTIFICATION_WEBHOOK_SECRET_FILE too"
                .into(),
        });
    }
    Ok(NotificationSettings {
        webhooks,
        webhook_secret,
        driver,
        transport_url,
        topics,
        exchange: a
            .control_exchange
            .clone()
            .unwrap_or_else(|| "glance".into()),
        disabled: list(&a.disabled_notifications),
        publisher_id: a
            .default_publisher_id
            .clone()
            .unwrap_or_else(|| "image.localhost".into()),
    })
}

/// Reads an `enabled_import_methods` list: known names, each once, in the order given.
fn import_methods(names: &[String]) -> Result<Vec<ImportMethod>, StartError> {
    let mut out = Vec::new();
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        let method = ImportMethod::parse(name).ok_or_else(|| StartError::Config {
            message: format!(
                "enabled import method '{name}': expected glance-direct, web-download, \
                 copy-image or glance-download"
            ),
        })?;
        if !out.contains(&method) {
            out.push(method);
        }
    }
    Ok(out)
}

/// The import filtering lists: flags and environment over the file over Glance's defaults. An
/// empty value (`GLINT_IMPORT_ALLOWED_PORTS=`) sets an empty list.
fn import_filter(a: &ServeArgs) -> Result<crate::webdownload::ImportFilter, StartError> {
    let defaults = crate::webdownload::ImportFilter::default();
    let list = |values: &Option<Vec<String>>, default: Vec<String>| match values {
        Some(values) => values
            .iter()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect(),
        None => default,
    };
    let ports = |values: Vec<String>, name: &str| {
        values
            .iter()
            .map(|p| {
                p.parse::<u16>().map_err(|_| StartError::Config {
                    message: format!("{name}: '{p}' is not a port number"),
                })
            })
            .collect::<Result<Vec<u16>, StartError>>()
    };
    let default_ports = defaults.allowed_ports.iter().map(u16::to_string).collect();
    Ok(crate::webdownload::ImportFilter {
        allowed_schemes: list(&a.import_allowed_schemes, defaults.allowed_schemes),
        disallowed_schemes: list(&a.import_disallowed_schemes, Vec::new()),
        allowed_hosts: list(&a.import_allowed_hosts, Vec::new()),
        disallowed_hosts: list(&a.import_disallowed_hosts, Vec::new()),
        allowed_ports: ports(
            list(&a.import_allowed_ports, default_ports),
            "--import-allowed-ports",
        )?,
        disallowed_ports: ports(
            list(&a.import_disallowed_ports, Vec::new()),
            "--import-disallowed-ports",
        )?,
        exceptions: a.web_download_allow.clone().unwrap_or_default(),
        read_timeout: a.import_read_timeout.unwrap_or(defaults.read_timeout),
    })
}

/// Glance's default `image_cache_max_size`: 10 GiB.
pub const IMAGE_CACHE_MAX_SIZE: u64 = 10 << 30;

/// Glance's default `image_size_cap`: 1 TiB.
pub const IMAGE_SIZE_CAP: u64 = 1 << 40;

/// A setting a mode cannot do without.
fn required(value: Option<String>, mode: &str, name: &str) -> Result<String, StartError> {
    value.ok_or_else(|| StartError::Config {
        message: format!("{mode} needs {name}"),
    })
}

/// A size as Glance's `user_storage_quota` writes it: a number with an optional B, KB, MB, GB
/// or TB suffix (powers of 1024).
pub fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_uppercase();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: u64 = number.parse().ok()?;
    let shift = match unit.trim() {
        "" | "B" => 0,
        "KB" => 10,
        "MB" => 20,
        "GB" => 30,
        "TB" => 40,
        _ => return None,
    };
    n.checked_mul(1 << shift)
}

fn sqlite_url(data_dir: &Path) -> String {
    format!("sqlite:{}", data_dir.join("glint.db").display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let dir = std::env::temp_dir().join(format!("glint-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("glint.toml");
        std::fs::write(
            &file,
            "bind = \"127.0.0.1:7000\"\ndata_dir = \"/srv/glint\"\nnode_name = \"a\"\n",
        )
        .expect("write");
        let config = Config::resolve(ServeArgs {
            bind: Some("127.0.0.1:8000".parse().expect("addr")),
            config: Some(file.clone()),
            ..ServeArgs::default()
        })
        .expect("valid");
        assert_eq!(config.bind.port(), 8000);
        assert_eq!(config.data_dir, PathBuf::from("/srv/glint"));
        assert_eq!(config.database_url, "sqlite:/srv/glint/glint.db");
        assert_eq!(config.node_name, "a");
        let defaults = Config::resolve(ServeArgs::default()).expect("defaults");
        assert_eq!(defaults.bind.port(), 9292);
        assert_eq!(defaults.database_url, "sqlite:glint-data/glint.db");
        assert_eq!(defaults.import_filter.allowed_ports, [80, 443]);
        let ports = Config::resolve(ServeArgs {
            import_allowed_ports: Some(vec![String::new()]),
            import_disallowed_ports: Some(vec!["22".into(), " 25".into()]),
            ..ServeArgs::default()
        })
        .expect("valid");
        assert!(ports.import_filter.allowed_ports.is_empty());
        assert_eq!(ports.import_filter.disallowed_ports, [22, 25]);
        assert!(
            Config::resolve(ServeArgs {
                import_allowed_ports: Some(vec!["http".into()]),
                ..ServeArgs::default()
            })
            .is_err()
        );
        assert_eq!(parse_bytes("10"), Some(10));
        assert_eq!(parse_bytes("2kb"), Some(2048));
        assert_eq!(parse_bytes("1 GB"), Some(1 << 30));
        assert_eq!(parse_bytes("1PB"), None);
        assert_eq!(parse_bytes("GB"), None);
        std::fs::write(&file, "colour = \"red\"\n").expect("write");
        let err = Config::resolve(ServeArgs {
            config: Some(file),
            ..ServeArgs::default()
        })
        .expect_err("unknown keys are refused");
        assert!(err.to_string().contains("colour"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Every `glint serve` flag but the command-line-only ones is a key of the file, and the
    /// file's value is used unless the flag (or its variable) is given: false and empty values
    /// given on the command line win too.
    #[test]
    fn each_setting_is_declared_once_for_flags_and_file() {
        use clap::Args as _;
        let command = ServeArgs::augment_args(clap::Command::new("serve"));
        let flag_only = ["admin-password", "admin-token", "file-stores", "config"];
        for arg in command.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            let key = long.replace('-', "_");
            let parsed = toml::from_str::<ServeArgs>(&format!("{key} = 0"));
            let unknown = parsed
                .as_ref()
                .err()
                .is_some_and(|e| e.to_string().contains("unknown field"));
            assert_eq!(unknown, flag_only.contains(&long), "{long}: {parsed:?}");
        }

        let dir = std::env::temp_dir().join(format!("glint-merge-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("glint.toml");
        std::fs::write(
            &file,
            "require_format_match = true\nshow_multiple_locations = true\n\
             insecure_noauth = true\nimport_allowed_hosts = [\"a.example\"]\n\
             web_download_allow = [\"b.example\"]\nimage_quota = 7\n",
        )
        .expect("write");
        let from_file = Config::resolve(ServeArgs {
            config: Some(file.clone()),
            ..ServeArgs::default()
        })
        .expect("valid");
        assert!(from_file.require_format_match && from_file.show_multiple_locations);
        assert!(from_file.insecure_noauth);
        assert_eq!(from_file.import_filter.allowed_hosts, ["a.example"]);
        assert_eq!(from_file.import_filter.exceptions, ["b.example"]);
        assert_eq!(from_file.image_quota, Some(7));
        let flags = Config::resolve(ServeArgs {
            config: Some(file),
            require_format_match: Some(false),
            import_allowed_hosts: Some(Vec::new()),
            image_quota: Some(3),
            ..ServeArgs::default()
        })
        .expect("valid");
        assert!(!flags.require_format_match);
        assert!(
            flags.show_multiple_locations,
            "the file's, not given as a flag"
        );
        assert!(flags.import_filter.allowed_hosts.is_empty());
        assert_eq!(flags.image_quota, Some(3));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Webhooks are http(s) URLs and are signed: a key is needed, read from its file, and it
    /// is never shown.
    #[test]
    fn webhooks_need_a_key_and_http_urls() {
        let dir = std::env::temp_dir().join(format!("glint-webhook-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let key = dir.join("key");
        std::fs::write(&key, "s3cret\n").expect("write");
        let args = |urls: &[&str], secret: Option<&PathBuf>| ServeArgs {
            notification_webhook_urls: Some(urls.iter().map(|u| u.to_string()).collect()),
            notification_webhook_secret_file: secret.cloned(),
            ..ServeArgs::default()
        };
        let unsigned = notification_settings(&args(&["http://a/hook"], None));
        assert!(unsigned.is_err(), "{unsigned:?}");
        let ftp = notification_settings(&args(&["ftp://a/hook"], Some(&key)));
        assert!(ftp.is_err(), "{ftp:?}");
        let fine = notification_settings(&args(&["https://a/hook", "http://b:8080/x"], Some(&key)))
            .expect("valid");
        assert_eq!(fine.webhooks.len(), 2);
        assert_eq!(fine.webhook_secret, Some(Secret(b"s3cret".to_vec())));
        assert!(
            !format!("{fine:?}").contains("s3cret"),
            "the key is never shown"
        );
        let missing = notification_settings(&args(&["http://a/hook"], Some(&dir.join("none"))));
        assert!(missing.is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn administration_reads_the_database_as_serve_does() {
        let dir = std::env::temp_dir().join(format!("glint-dbargs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("glint.toml");
        std::fs::write(
            &file,
            "data_dir = \"/srv/glint\"\nbind = \"127.0.0.1:7000\"\n",
        )
        .expect("write");
        let from_file = DbArgs {
            config: Some(file.clone()),
            ..DbArgs::default()
        };
        assert_eq!(
            from_file.database_url().expect("valid"),
            "sqlite:/srv/glint/glint.db"
        );
        let serve = Config::resolve(ServeArgs {
            config: Some(file.clone()),
            ..ServeArgs::default()
        })
        .expect("valid");
        assert_eq!(serve.database_url, from_file.database_url().expect("valid"));
        let flag = DbArgs {
            config: Some(file),
            database_url: Some("postgres://db/glint".into()),
            ..DbArgs::default()
        };
        assert_eq!(flag.database_url().expect("valid"), "postgres://db/glint");
        assert_eq!(
            DbArgs::default().database_url().expect("valid"),
            "sqlite:glint-data/glint.db"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn keystone_limits_are_for_keystone_mode_without_glints_own() {
        let keystone = ServeArgs {
            auth: Some(AuthMode::Keystone),
            keystone_url: Some("http://127.0.0.1:5000".into()),
            keystone_username: Some("glint".into()),
            keystone_password: Some("pw".into()),
            use_keystone_limits: true,
            ..ServeArgs::default()
        };
        let limits = Config::resolve(keystone.clone())
            .expect("valid")
            .keystone_limits
            .expect("limits");
        assert_eq!(
            (limits.service_type.as_str(), limits.interface.as_str()),
            ("image", "public")
        );
        assert_eq!(limits.cache_seconds, 0);
        let err = Config::resolve(ServeArgs {
            use_keystone_limits: true,
            ..ServeArgs::default()
        })
        .expect_err("local mode");
        assert!(err.to_string().contains("--auth keystone"), "{err}");
        let err = Config::resolve(ServeArgs {
            image_quota: Some(3),
            ..keystone
        })
        .expect_err("both");
        assert!(err.to_string().contains("image_quota"), "{err}");
    }

    #[test]
    fn injected_properties_are_checked_at_start() {
        let inject = |pairs: &[&str]| {
            Config::resolve(ServeArgs {
                inject_metadata_properties: Some(pairs.iter().map(|p| p.to_string()).collect()),
                ..ServeArgs::default()
            })
        };
        let config = inject(&["support: ops@example.org", "tier:gold"]).expect("valid");
        assert_eq!(
            config
                .inject_metadata_properties
                .get("support")
                .map(String::as_str),
            Some("ops@example.org")
        );
        assert_eq!(config.inject_ignore_user_roles, ["admin"]);
        for bad in [
            &["no-colon"][..],
            &[":empty-key"],
            &["os_glance_x:1"],
            &["min_disk:3"],
            // Glance's schema: kernel_id is an image id.
            &["kernel_id:not-an-id"],
        ] {
            assert!(inject(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn import_methods_are_glances_choices() {
        let defaults = Config::resolve(ServeArgs::default()).expect("defaults");
        assert_eq!(defaults.enabled_import_methods, ImportMethod::DEFAULT);
        let chosen = Config::resolve(ServeArgs {
            enabled_import_methods: Some(vec![
                "web-download".into(),
                " glance-direct".into(),
                "web-download".into(),
            ]),
            ..ServeArgs::default()
        })
        .expect("valid");
        assert_eq!(
            chosen.enabled_import_methods,
            [ImportMethod::WebDownload, ImportMethod::GlanceDirect]
        );
        let err = Config::resolve(ServeArgs {
            enabled_import_methods: Some(vec!["ftp-download".into()]),
            ..ServeArgs::default()
        })
        .expect_err("unknown method");
        assert!(err.to_string().contains("ftp-download"), "{err}");
        let err = Config::resolve(ServeArgs {
            enabled_import_methods: Some(vec!["glance-download".into()]),
            ..ServeArgs::default()
        })
        .expect_err("glance-download without Keystone");
        assert!(err.to_string().contains("keystone"), "{err}");
    }

    #[test]
    fn keystone_mode_needs_its_url_and_service_user() {
        let err = Config::resolve(ServeArgs {
            auth: Some(AuthMode::Keystone),
            keystone_username: Some("glint".into()),
            keystone_password: Some("pw".into()),
            ..ServeArgs::default()
        })
        .expect_err("no URL");
        assert!(err.to_string().contains("GLINT_KEYSTONE_URL"), "{err}");
        let config = Config::resolve(ServeArgs {
            auth: Some(AuthMode::Keystone),
            keystone_url: Some("http://127.0.0.1:5000".into()),
            keystone_username: Some("glint".into()),
            keystone_password: Some("pw".into()),
            ..ServeArgs::default()
        })
        .expect("valid");
        let k = config.keystone.expect("keystone mode");
        assert_eq!(
            (k.project.as_str(), k.user_domain.as_str()),
            ("service", "Default")
        );
        assert_eq!(k.cache_seconds, 300);
        let both = Config::resolve(ServeArgs {
            auth: Some(AuthMode::Keystone),
            keystone_url: Some("http://127.0.0.1:5000".into()),
            keystone_username: Some("glint".into()),
            keystone_password: Some("pw".into()),
            insecure_noauth: true,
            ..ServeArgs::default()
        });
        assert!(both.is_err(), "noauth and keystone exclude each other");
        assert!(
            Config::resolve(ServeArgs::default())
                .expect("defaults")
                .keystone
                .is_none()
        );
    }
}
