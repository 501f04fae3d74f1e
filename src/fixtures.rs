//! A minimal, valid configuration on loopback for tests, examples and benchmarks, so each of
//! them writes only the sections it is about instead of carrying its own copy of the required
//! ones. Not used by the daemon.

use std::path::Path;

use crate::config::{Config, ConfigError};

/// The required sections, for helpdesk `address`. Tables only: TOML appended after it must
/// start with a table header of its own.
pub fn minimal_toml(address: &str) -> String {
    format!(
        r#"
[helpdesk]
address = "{address}"
[imap]
host = "127.0.0.1"
port = 1143
tls = "none"
username = "{address}"
password = "x"
[smtp]
host = "127.0.0.1"
port = 2525
tls = "none"
[database]
path = "unused.db"
[security]
require_authenticated_commands = false   # fixture technicians send no Authentication-Results
"#
    )
}

/// `minimal_toml(address)` followed by `extra`, loaded and validated like a real config file.
pub fn config(address: &str, extra: &str) -> Result<Config, ConfigError> {
    Config::from_toml(
        &format!("{}{extra}", minimal_toml(address)),
        Path::new("fixture.toml"),
    )
}
