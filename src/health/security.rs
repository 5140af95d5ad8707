//! Security checks: each a row of [`super::registry::CHECKS`] whose query
//! is a [`Rule`] here, shared by `health` (a status per rule) and `inspect`
//! (a finding per offending object, with the fix).
//!
//! Every rule is one catalog query that returns the offending objects as
//! (object, evidence, fix) rows; no row means the rule holds. Each names
//! the CIS PostgreSQL Benchmark / pgdsat item it answers (pgdsat follows
//! the CIS numbering). A rule the connecting role may not run is UNKNOWN
//! and names the privilege it needs. Rules judge posture, not an outage,
//! so a failed rule is a WARNING. See docs/security.md.

use postgres::Client;

use super::registry::Check;
use super::{CheckResult, Status, Unit};

pub struct Rule {
    /// The CIS / pgdsat item.
    pub reference: &'static str,
    /// Returns (object, evidence, fix) for every offender.
    pub query: &'static str,
    /// What a role needs to run the query, named when it is refused.
    pub needs: &'static str,
}

pub const APP_ROLE: Rule = Rule {
    reference: "CIS 4.2 / pgdsat 4.2, 4.7",
    // The roles of this database's client sessions (but the administrators'
    // tools and godwit's own) and the connecting role, where they are
    // superusers or own tables here.
    query: "SELECT 'role ' || quote_ident(r.rolname), \
        CASE WHEN r.rolsuper THEN 'superuser' ELSE 'owns ' || o.n || CASE WHEN o.n = 1 THEN ' table' ELSE ' tables' END END \
        || ' and connects to this database' \
        || CASE WHEN s.sessions > 0 THEN ' (' || s.sessions || ' sessions now)' ELSE ' (this connection)' END, \
        CASE WHEN r.rolsuper THEN 'connect the application as a role without SUPERUSER: godwit roles apply --to URL' \
             ELSE 'give the tables to an owner role the application does not log in as: godwit roles apply --to URL' END \
 FROM ( \
   SELECT usename AS role, count(*) AS sessions FROM pg_stat_activity \
   WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid() \
     AND coalesce(application_name, '') NOT LIKE 'godwit%' AND coalesce(application_name, '') NOT IN ('psql', 'pg_dump', 'pg_restore', 'pg_dumpall', 'pgAdmin 4') \
     AND usename IS NOT NULL GROUP BY usename \
   UNION ALL SELECT current_user, 0 \
 ) s \
 JOIN pg_roles r ON r.rolname = s.role \
 CROSS JOIN LATERAL (SELECT count(*) AS n FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace \
    WHERE c.relowner = r.oid AND c.relkind IN ('r', 'p') \
      AND ns.nspname NOT IN ('pg_catalog', 'information_schema') AND ns.nspname NOT LIKE 'pg\\_%') o \
 WHERE r.rolsuper OR o.n > 0 \
 ORDER BY s.sessions DESC, r.rolname",
    needs: "pg_read_all_stats (pg_monitor) to see other roles' sessions",
};

pub const SUPERUSERS: Rule = Rule {
    reference: "CIS 4.2 / pgdsat 4.2",
    query: "SELECT 'role ' || quote_ident(rolname), 'superuser with LOGIN (' || n || ' such roles)', \
                   'ALTER ROLE ' || quote_ident(rolname) || ' NOSUPERUSER;  -- or NOLOGIN' \
            FROM (SELECT oid, rolname, count(*) OVER () AS n FROM pg_roles WHERE rolsuper AND rolcanlogin) s \
            WHERE n > 1 AND oid <> 10 ORDER BY rolname",
    needs: "nothing beyond LOGIN (pg_roles is public)",
};

pub const PG_HBA: Rule = Rule {
    reference: "CIS 5.2, 5.6, 5.7 / pgdsat 5.2, 5.6, 5.7",
    query: "SELECT 'pg_hba.conf line ' || line_number, \
                   concat_ws(' ', type, array_to_string(database, ','), array_to_string(user_name, ','), \
                             address || coalesce(' ' || netmask, ''), auth_method), \
                   CASE WHEN auth_method IN ('trust', 'password', 'md5') \
                        THEN 'use scram-sha-256 (or cert) on line ' || line_number || ' of ' || current_setting('hba_file') \
                        ELSE 'narrow line ' || line_number || ' of ' || current_setting('hba_file') || ' to the application''s database, role and network' END \
                   || '; then SELECT pg_reload_conf();' \
            FROM ( \
              SELECT *, type <> 'local' AND NOT coalesce(address IN ('localhost', 'samehost') OR ( \
                         address ~ '^[0-9a-fA-F:.]+$' AND netmask IS NOT NULL AND ( \
                           (family(address::inet) = 4 AND address::inet <<= '127.0.0.0/8' AND netmask::inet >= '255.0.0.0'::inet) \
                           OR (address::inet = '::1' AND netmask::inet = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'::inet))), false) \
                       AS remote, \
                     type LIKE 'host%' AND 'all' = ANY(database) AND 'all' = ANY(user_name) \
                       AND (address = 'all' OR (address IN ('0.0.0.0', '::') AND netmask IN ('0.0.0.0', '::'))) AS everyone \
              FROM pg_catalog.pg_hba_file_rules WHERE error IS NULL \
            ) r \
            WHERE (remote AND auth_method IN ('trust', 'password', 'md5')) OR everyone ORDER BY line_number",
    needs: "superuser, or SELECT on pg_catalog.pg_hba_file_rules and EXECUTE on pg_hba_file_rules() \
            (granted to the monitor role by `godwit roles apply`)",
};

pub const PASSWORD_ENCRYPTION: Rule = Rule {
    reference: "CIS 5.9 / pgdsat 5.9",
    query: "SELECT 'password_encryption', 'password_encryption = ' || current_setting('password_encryption'), \
                   'ALTER SYSTEM SET password_encryption = ''scram-sha-256''; SELECT pg_reload_conf();' \
            WHERE current_setting('password_encryption') <> 'scram-sha-256'",
    needs: "nothing beyond LOGIN",
};

pub const MD5_PASSWORDS: Rule = Rule {
    reference: "CIS 5.9 / pgdsat 5.9",
    query: "SELECT 'role ' || quote_ident(rolname), 'password stored as md5', \
                   'SET password_encryption = ''scram-sha-256''; then set it again: \\password ' || quote_ident(rolname) || ' (psql)' \
            FROM pg_catalog.pg_authid WHERE rolpassword LIKE 'md5%' ORDER BY rolname",
    needs: "superuser: stored password hashes (pg_authid) are readable by superusers only",
};

pub const SSL: Rule = Rule {
    reference: "CIS 6.8 / pgdsat 6.8, 5.5",
    query: "SELECT 'ssl', 'ssl = off while listen_addresses = ''' || current_setting('listen_addresses') || '''', \
                   'set ssl_cert_file and ssl_key_file, ALTER SYSTEM SET ssl = on; SELECT pg_reload_conf(); \
                    and use hostssl lines in pg_hba.conf' \
            WHERE current_setting('ssl') = 'off' AND EXISTS ( \
              SELECT 1 FROM unnest(string_to_array(replace(current_setting('listen_addresses'), ' ', ''), ',')) a \
              WHERE a NOT IN ('', 'localhost', '::1') AND a NOT LIKE '127.%')",
    needs: "nothing beyond LOGIN",
};

pub const SCHEMA_CREATE: Rule = Rule {
    reference: "CIS 4.8 / pgdsat 4.8",
    query: "SELECT 'schema ' || quote_ident(nspname), 'PUBLIC has CREATE: any role can add objects, \
                    and a function there can shadow a built-in', \
                   'REVOKE CREATE ON SCHEMA ' || quote_ident(nspname) || ' FROM PUBLIC;' \
            FROM pg_namespace WHERE has_schema_privilege('public', oid, 'CREATE') ORDER BY nspname",
    needs: "nothing beyond LOGIN",
};

pub const SECURITY_DEFINER: Rule = Rule {
    reference: "CIS 4.3 / pgdsat 4.3",
    query: "SELECT 'function ' || p.oid::regprocedure::text, \
                   'SECURITY DEFINER (runs as ' || quote_ident(pg_get_userbyid(p.proowner)) || ') without SET search_path', \
                   'ALTER FUNCTION ' || p.oid::regprocedure::text || ' SET search_path = pg_catalog, pg_temp;' \
            FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
            WHERE p.prosecdef AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
              AND NOT EXISTS (SELECT 1 FROM unnest(coalesce(p.proconfig, '{}')) c WHERE c LIKE 'search_path=%') \
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e') \
            ORDER BY 1",
    needs: "nothing beyond LOGIN",
};

pub const CONNECTION_LOGGING: Rule = Rule {
    reference: "CIS 3.1.20, 3.1.21 / pgdsat 3.1.20, 3.1.21",
    query: "SELECT name, name || ' = off', 'ALTER SYSTEM SET ' || name || ' = on; SELECT pg_reload_conf();' \
            FROM pg_settings WHERE name IN ('log_connections', 'log_disconnections') AND setting = 'off' ORDER BY name",
    needs: "nothing beyond LOGIN",
};

pub const EXTENSION_UPDATES: Rule = Rule {
    reference: "CIS 1.4 / pgdsat 1.4",
    query: "SELECT 'extension ' || quote_ident(e.extname), \
                   'version ' || e.extversion || ' in this database, ' || a.default_version || ' installed on the server', \
                   'ALTER EXTENSION ' || quote_ident(e.extname) || ' UPDATE;' \
            FROM pg_extension e JOIN pg_available_extensions a ON a.name = e.extname \
            WHERE a.default_version IS DISTINCT FROM e.extversion ORDER BY e.extname",
    needs: "nothing beyond LOGIN",
};

/// One offender.
pub struct Offender {
    pub object: String,
    pub evidence: String,
    pub fix: String,
}

/// Runs one rule: its offenders, or why it could not run.
pub fn offenders(client: &mut Client, rule: &Rule) -> Result<Vec<Offender>, String> {
    match client.query(rule.query, &[]) {
        Ok(rows) => Ok(rows
            .iter()
            .map(|r| Offender {
                object: r.get(0),
                evidence: r.get(1),
                fix: r.get(2),
            })
            .collect()),
        Err(e) => Err(match e.code().map(|c| c.code()) {
            Some("42501") => format!("could not run: permission denied; needs {}", rule.needs),
            Some("57014") => "could not run: timed out (statement_timeout)".into(),
            _ => format!("could not run: {}", crate::postgres::conn::describe_pg_error(&e)),
        }),
    }
}

/// A rule as a health check: OK, WARNING naming the offenders, or UNKNOWN.
pub(super) fn check(client: &mut Client, row: &Check, rule: &Rule) -> CheckResult {
    let (status, value, message, details) = match offenders(client, rule) {
        Ok(found) if found.is_empty() => (
            Status::Ok,
            Some(0.0),
            format!("{} [{}]", row.help, rule.reference),
            Vec::new(),
        ),
        Ok(found) => {
            let first = &found[0];
            (
                Status::Warning,
                Some(f64::from(u32::try_from(found.len()).unwrap_or(u32::MAX))),
                format!(
                    "{} offending: {} ({}); fix: {} [{}; wanted: {}]",
                    found.len(),
                    first.object,
                    first.evidence,
                    first.fix,
                    rule.reference,
                    row.help
                ),
                found.iter().map(|o| format!("{}: {}", o.object, o.evidence)).collect(),
            )
        }
        Err(why) => (Status::Unknown, None, format!("{why} [{}]", rule.reference), Vec::new()),
    };
    CheckResult {
        name: row.name.into(),
        status,
        value,
        unit: Unit::Count,
        message,
        warning: None,
        critical: None,
        details,
    }
}
