//! What a database carries outside its contents, which pg_dump's directory
//! format leaves out: its owner, comment, connection limit, database-level
//! GRANTs, `ALTER DATABASE ... SET` and `ALTER ROLE ... IN DATABASE ... SET`.
//!
//! A restore reads them from the database it replaces, applies them to the
//! restored one before the swap, reads them back and refuses to swap unless
//! they are equal: nothing the old database had is lost silently.

use postgres::Client;

use crate::error::{Error, Result};
use crate::postgres::conn::{quote_ident, quote_literal};

/// One database-level privilege, as `aclexplode` gives it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Grant {
    pub grantor: String,
    /// Empty for PUBLIC.
    pub grantee: String,
    pub privilege: String,
    pub grantable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseProperties {
    pub owner: String,
    /// Its default tablespace: the restored database is created there.
    pub tablespace: String,
    pub comment: Option<String>,
    pub connection_limit: i32,
    /// None: the default privileges (`datacl` is NULL).
    pub grants: Option<Vec<Grant>>,
    /// `ALTER DATABASE ... SET`, as `name=value`.
    pub settings: Vec<String>,
    /// `ALTER ROLE role IN DATABASE ... SET`, by role.
    pub role_settings: Vec<(String, Vec<String>)>,
}

/// The properties of database `name`, or None when it does not exist.
pub fn read(client: &mut Client, name: &str) -> Result<Option<DatabaseProperties>> {
    let err = |e: postgres::Error| Error::pg(format!("reading the properties of database {name}"), &e);
    let Some(row) = client
        .query_opt(
            "SELECT pg_get_userbyid(datdba)::text, shobj_description(oid, 'pg_database'),
                    datconnlimit, datacl IS NULL,
                    (SELECT spcname::text FROM pg_tablespace WHERE oid = dattablespace)
               FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .map_err(err)?
    else {
        return Ok(None);
    };
    let default_acl: bool = row.get(3);
    let grants = if default_acl {
        None
    } else {
        let mut grants: Vec<Grant> = client
            .query(
                "SELECT pg_get_userbyid(a.grantor)::text,
                        CASE WHEN a.grantee = 0 THEN '' ELSE pg_get_userbyid(a.grantee)::text END,
                        a.privilege_type::text, a.is_grantable
                   FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = $1",
                &[&name],
            )
            .map_err(err)?
            .iter()
            .map(|r| Grant {
                grantor: r.get(0),
                grantee: r.get(1),
                privilege: r.get(2),
                grantable: r.get(3),
            })
            .collect();
        grants.sort();
        Some(grants)
    };
    let mut settings = Vec::new();
    let mut role_settings = Vec::new();
    for r in client
        .query(
            "SELECT coalesce(pg_get_userbyid(s.setrole)::text, ''), s.setrole = 0, s.setconfig
               FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
              WHERE d.datname = $1 ORDER BY 1",
            &[&name],
        )
        .map_err(err)?
    {
        // In the order they were set, which the restored database keeps.
        let config: Vec<String> = r.get::<_, Option<Vec<String>>>(2).unwrap_or_default();
        if r.get::<_, bool>(1) {
            settings = config;
        } else {
            role_settings.push((r.get(0), config));
        }
    }
    Ok(Some(DatabaseProperties {
        owner: row.get(0),
        tablespace: row.get(4),
        comment: row.get(1),
        connection_limit: row.get(2),
        grants,
        settings,
        role_settings,
    }))
}

/// Gives database `name` the properties `props`, replacing its own.
pub fn apply(client: &mut Client, name: &str, props: &DatabaseProperties) -> Result<()> {
    let db = quote_ident(name);
    let mut statements = vec![
        format!("ALTER DATABASE {db} OWNER TO {}", quote_ident(&props.owner)),
        format!(
            "COMMENT ON DATABASE {db} IS {}",
            props.comment.as_deref().map_or("NULL".to_string(), quote_literal)
        ),
        format!("ALTER DATABASE {db} CONNECTION LIMIT {}", props.connection_limit),
        format!("ALTER DATABASE {db} RESET ALL"),
    ];
    for setting in &props.settings {
        statements.push(format!("ALTER DATABASE {db} {}", set_clause(setting)));
    }
    for (role, config) in &props.role_settings {
        for setting in config {
            statements.push(format!(
                "ALTER ROLE {} IN DATABASE {db} {}",
                quote_ident(role),
                set_clause(setting)
            ));
        }
    }
    if let Some(grants) = &props.grants {
        // From an empty list, then each grant; the owner's own grants first,
        // since others' may rest on a grant option it gave.
        statements.push(format!(
            "REVOKE ALL ON DATABASE {db} FROM PUBLIC, {} CASCADE",
            quote_ident(&props.owner)
        ));
        let mut ordered: Vec<&Grant> = grants.iter().collect();
        ordered.sort_by_key(|g| g.grantor != props.owner);
        for grant in ordered {
            let grantee = if grant.grantee.is_empty() {
                "PUBLIC".to_string()
            } else {
                quote_ident(&grant.grantee)
            };
            let option = if grant.grantable { " WITH GRANT OPTION" } else { "" };
            let sql = format!("GRANT {} ON DATABASE {db} TO {grantee}{option}", grant.privilege);
            if grant.grantor == props.owner {
                statements.push(sql);
            } else {
                // Recorded under its grantor only when run as that role.
                statements.push(format!("SET ROLE {}; {sql}; RESET ROLE", quote_ident(&grant.grantor)));
            }
        }
    }
    for sql in statements {
        client
            .batch_execute(&sql)
            .map_err(|e| Error::pg(format!("carrying the database's properties to {name} ({sql})"), &e))?;
    }
    Ok(())
}

/// `SET name TO value` for one `name=value` entry of `setconfig`, quoted as
/// pg_dumpall does: list settings (search_path...) are stored flattened and
/// must be given back element by element.
fn set_clause(entry: &str) -> String {
    let (name, value) = entry.split_once('=').unwrap_or((entry, ""));
    let value = if is_list_setting(name) {
        split_list(value)
            .iter()
            .map(|v| quote_literal(v))
            .collect::<Vec<_>>()
            .join(", ")
    } else {
        quote_literal(value)
    };
    let plain = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.');
    // Custom settings (`app.tenant`) are dotted names, not one quoted identifier.
    let name = if plain { name.to_string() } else { quote_ident(name) };
    format!("SET {name} TO {value}")
}

/// The settings PostgreSQL marks GUC_LIST_QUOTE.
fn is_list_setting(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "local_preload_libraries"
            | "search_path"
            | "session_preload_libraries"
            | "shared_preload_libraries"
            | "temp_tablespaces"
            | "unix_socket_directories"
    )
}

/// Splits a flattened list setting (`"$user", public`) into its elements:
/// comma-separated, each optionally double-quoted with `""` for a quote.
fn split_list(value: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut item = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        item.push('"');
                    } else {
                        break;
                    }
                } else {
                    item.push(c);
                }
            }
            while chars.peek().is_some_and(|c| *c != ',') {
                chars.next();
            }
        } else {
            while let Some(c) = chars.peek().copied() {
                if c == ',' {
                    break;
                }
                item.push(c);
                chars.next();
            }
            item = item.trim_end().to_string();
        }
        items.push(item);
        if chars.next().is_none() {
            break;
        }
    }
    items.retain(|i| !i.is_empty());
    items
}

/// What differs between the database being replaced and the restored one.
pub fn differences(old: &DatabaseProperties, new: &DatabaseProperties) -> Vec<String> {
    let mut out = Vec::new();
    if old.owner != new.owner {
        out.push(format!("owner: {} before, {} restored", old.owner, new.owner));
    }
    if old.tablespace != new.tablespace {
        out.push(format!(
            "tablespace: {} before, {} restored",
            old.tablespace, new.tablespace
        ));
    }
    if old.comment != new.comment {
        out.push("the database comment".to_string());
    }
    if old.connection_limit != new.connection_limit {
        out.push("the connection limit".to_string());
    }
    if old.grants != new.grants {
        out.push(format!(
            "database GRANTs: {:?} before, {:?} restored",
            old.grants, new.grants
        ));
    }
    if old.settings != new.settings {
        out.push(format!(
            "ALTER DATABASE ... SET: {:?} before, {:?} restored",
            old.settings, new.settings
        ));
    }
    if old.role_settings != new.role_settings {
        out.push(format!(
            "ALTER ROLE ... IN DATABASE ... SET: {:?} before, {:?} restored",
            old.role_settings, new.role_settings
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_settings_split_like_postgres() {
        assert_eq!(split_list("\"$user\", public"), vec!["$user", "public"]);
        assert_eq!(split_list("a,\"b,\"\"c\"\"\" , d"), vec!["a", "b,\"c\"", "d"]);
        assert_eq!(split_list(""), Vec::<String>::new());
        assert_eq!(
            set_clause("search_path=\"$user\", app"),
            "SET search_path TO '$user', 'app'"
        );
        assert_eq!(set_clause("work_mem=64MB"), "SET work_mem TO '64MB'");
    }
}
