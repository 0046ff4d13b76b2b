//! Terminals (收银终端): a POS bound to one store, holding its own token. Pairing by a short code
//! comes with discovery (issue 6); until then head office or the store's manager mints the token.

use crate::UnixMillis;
use crate::staff::StoreId;

hex_id! {
    TerminalId;
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Terminal {
    pub id: TerminalId,
    pub store: StoreId,
    /// What the store calls it: `收银台 1`.
    pub name: String,
    pub created_at: UnixMillis,
    /// Once revoked its token is refused for good.
    pub revoked_at: Option<UnixMillis>,
}

pub const TERMINAL_NAME_CHARS_MAX: usize = 32;

/// Terminal tokens carry this prefix, so a token says which kind of caller it is.
pub const TERMINAL_TOKEN_PREFIX: &str = "tt_";

pub(crate) fn valid_name(name: &str) -> bool {
    let name = name.trim();
    !name.is_empty()
        && name.chars().count() <= TERMINAL_NAME_CHARS_MAX
        && !name.chars().any(char::is_control)
}
