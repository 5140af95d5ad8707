//! `godwit roles`: a least-privilege role set for one application schema.
//!
//! Four roles, named from a prefix:
//! - `P_owner` (NOLOGIN) owns the schema and everything in it; DDL runs as
//!   it through `SET ROLE` (`migrate --owner`, `copy --owner`);
//! - `P_app` (LOGIN) reads and writes rows, uses sequences, executes
//!   routines, and can do nothing else;
//! - `P_readonly` (LOGIN) reads rows;
//! - `P_monitor` (LOGIN) is what `health` and `inspect` need.
//!
//! [`plan`] reads the catalog and returns only the statements that would
//! change something, so applying twice changes nothing the second time.
//! [`apply`] runs them in one transaction. Passwords are generated here
//! and sent as SCRAM-SHA-256 verifiers ([`password`]): the plaintext never
//! reaches the server, its logs, an argv or an error. See docs/security.md.

pub mod password;
mod state;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::postgres::conn::{ConnSpec, quote_ident};
pub use password::Secret;

/// The four role names for one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleNames {
    pub owner: String,
    pub app: String,
    pub readonly: String,
    pub monitor: String,
}

/// The longest prefix that leaves room for `_readonly` within
/// PostgreSQL's 63-byte identifiers.
const MAX_PREFIX: usize = 63 - "_readonly".len();

impl RoleNames {
    /// Role names from a prefix of lower-case letters, digits and `_`:
    /// names that need no quoting in a URL, a .pgpass line or psql.
    pub fn new(prefix: &str) -> Result<RoleNames> {
        let valid = !prefix.is_empty()
            && prefix.len() <= MAX_PREFIX
            && prefix.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && prefix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid || prefix.starts_with("pg_") {
            return Err(Error::Usage(format!(
                "role prefix {prefix:?} must be 1 to {MAX_PREFIX} lower-case letters, digits or _, \
                 start with a letter or _, and not start with pg_ (reserved); pass --prefix"
            )));
        }
        Ok(RoleNames {
            owner: format!("{prefix}_owner"),
            app: format!("{prefix}_app"),
            readonly: format!("{prefix}_readonly"),
            monitor: format!("{prefix}_monitor"),
        })
    }

    /// The roles that log in and so get a password, in report order.
    pub fn logins(&self) -> [&str; 3] {
        [&self.app, &self.readonly, &self.monitor]
    }
}

/// The prefix when none is given: the schema's name, or the database's
/// when the schema is `public`.
pub fn default_prefix(schema: &str, dbname: &str) -> String {
    if schema == "public" { dbname } else { schema }.to_string()
}

#[derive(Debug, Clone)]
pub struct RolesOptions {
    pub target: ConnSpec,
    pub schema: String,
    pub names: RoleNames,
}

/// One statement of the plan and why it is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub why: String,
    pub sql: String,
    /// A login role created by this plan: [`apply`] sets a generated
    /// password right after `sql`.
    pub new_login: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// What could not be planned, and why (a privilege the connecting role lacks).
    pub notes: Vec<String>,
}

impl Plan {
    /// The SQL as one reviewable script. A created login role's password
    /// appears as a placeholder: it is generated only by `apply`.
    pub fn script(&self) -> String {
        let mut out = String::new();
        for step in &self.steps {
            out.push_str(&format!("-- {}\n{};\n", step.why, step.sql));
            if let Some(role) = &step.new_login {
                out.push_str(&format!(
                    "ALTER ROLE {} PASSWORD '<SCRAM-SHA-256 verifier of a generated password>';\n",
                    quote_ident(role)
                ));
            }
        }
        out
    }
}

/// The statements that would bring the schema to the role set, reading
/// the catalog only.
pub fn plan(options: &RolesOptions) -> Result<Plan> {
    let mut client = options.target.connect()?;
    // One read-only transaction: through a transaction pooler every read
    // lands in one server session. Dropping it rolls it back.
    let mut tx = client
        .build_transaction()
        .read_only(true)
        .start()
        .map_err(|e| Error::pg("starting a read-only transaction", &e))?;
    state::plan_in(&mut tx, options)
}

/// What `apply` did.
#[derive(Debug)]
pub struct Applied {
    pub plan: Plan,
    /// Passwords of the login roles created now, shown once unless they
    /// went to the password file.
    pub passwords: Vec<(String, Secret)>,
    pub password_file: Option<PathBuf>,
}

/// Plans and applies in one transaction, under an advisory lock so that
/// two concurrent runs do not interleave. With `password_file`, new
/// passwords are written there (mode 0600, .pgpass format) before the
/// commit, so a committed role never has a lost password.
pub fn apply(options: &RolesOptions, password_file: Option<&Path>) -> Result<Applied> {
    let mut client = options.target.connect()?;
    let mut tx = client
        .transaction()
        .map_err(|e| Error::pg("starting the transaction", &e))?;
    tx.batch_execute("SELECT pg_advisory_xact_lock(hashtext('godwit roles'))")
        .map_err(|e| Error::pg("waiting for another godwit roles apply", &e))?;
    let plan = state::plan_in(&mut tx, options)?;
    if plan.steps.is_empty() {
        return Ok(Applied {
            plan,
            passwords: Vec::new(),
            password_file: None,
        });
    }
    let mut passwords = Vec::new();
    for step in &plan.steps {
        tx.batch_execute(&step.sql)
            .map_err(|e| Error::pg(format!("{} ({})", step.why, first_words(&step.sql)), &e))?;
        if let Some(role) = &step.new_login {
            let secret = Secret::generate()?;
            tx.batch_execute(&format!(
                "ALTER ROLE {} PASSWORD '{}'",
                quote_ident(role),
                secret.scram_verifier()
            ))
            .map_err(|e| Error::pg(format!("setting the password of role {role}"), &e))?;
            passwords.push((role.clone(), secret));
        }
    }
    let pending = match password_file {
        Some(path) if !passwords.is_empty() => Some(password::PendingFile::write(path, &options.target, &passwords)?),
        _ => None,
    };
    tx.commit().map_err(|e| Error::pg("committing the role changes", &e))?;
    let written = pending.map(password::PendingFile::keep).transpose()?;
    Ok(Applied {
        plan,
        passwords: if written.is_some() { Vec::new() } else { passwords },
        password_file: written,
    })
}

/// The statement's opening words for an error's context: enough to find
/// it in the plan, never a password (those statements are not named).
fn first_words(sql: &str) -> String {
    sql.split_whitespace().take(6).collect::<Vec<_>>().join(" ")
}

/// The same connection with every session running as `role`
/// (`SET ROLE` at startup): what `--owner` does for `migrate` and `copy`,
/// so the objects they create belong to the owner role and its default
/// privileges grant them to the app at once.
pub fn run_as(mut spec: ConnSpec, role: &str) -> ConnSpec {
    // libpq's options escape spaces and backslashes with a backslash.
    let escaped = role.replace('\\', "\\\\").replace(' ', "\\ ");
    let option = format!("-c role={escaped}");
    spec.options = Some(match spec.options.take() {
        Some(existing) if !existing.trim().is_empty() => format!("{existing} {option}"),
        _ => option,
    });
    spec
}

/// [`run_as`] when a role is given (`--owner`).
pub fn run_as_optional(spec: ConnSpec, role: Option<&str>) -> ConnSpec {
    match role {
        Some(role) => run_as(spec, role),
        None => spec,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_that_need_quoting_or_overflow_are_refused() {
        assert_eq!(RoleNames::new("shop").unwrap().readonly, "shop_readonly");
        for bad in ["", "Shop", "1shop", "shop-app", "x\"; DROP", "pg_x", &"a".repeat(55)] {
            assert!(RoleNames::new(bad).is_err(), "{bad:?}");
        }
        assert!(RoleNames::new(&"a".repeat(54)).is_ok());
    }

    #[test]
    fn run_as_appends_to_existing_options() {
        let spec = ConnSpec::parse("postgresql://u@h/d?options=-c%20work_mem%3D64MB").unwrap();
        assert_eq!(
            run_as(spec, "shop_owner").options.as_deref(),
            Some("-c work_mem=64MB -c role=shop_owner")
        );
    }
}
