//! Who a request speaks for, as its token (Glint's own or Keystone's) says.

use glint_core::Caller;

/// The authenticated caller of one request.
#[derive(Debug, Clone)]
pub(crate) struct Authenticated {
    pub(crate) caller: Caller,
    pub(crate) user_id: Option<String>,
    pub(crate) user_name: Option<String>,
    pub(crate) project_name: Option<String>,
    pub(crate) expires_at: Option<i64>,
}
