//! Reading the catalog into the steps that are still missing. Every
//! privilege is compared with the object's own ACL (`aclexplode`, with
//! `acldefault` where the ACL is still the built-in default), not with
//! `has_*_privilege`, which would count privileges held through PUBLIC or
//! a membership and make a second run differ from the first.

use postgres::GenericClient;

use super::{Plan, RolesOptions, Step};
use crate::error::{Error, Result};
use crate::postgres::conn::quote_ident;

/// One kind of object the grants cover, and how the catalog spells it.
#[derive(Clone, Copy)]
enum Class {
    /// Tables, views, materialized views, foreign and partitioned tables:
    /// what `ON ALL TABLES IN SCHEMA` covers.
    Tables,
    Sequences,
    /// Functions, procedures and aggregates (`ON ALL ROUTINES`).
    Routines,
}

impl Class {
    /// (object, its ACL or the default one) for the objects of the schema `$1`.
    fn objects_sql(self) -> &'static str {
        match self {
            Class::Tables => {
                "SELECT c.oid, coalesce(c.relacl, acldefault('r', c.relowner)) AS acl FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')"
            }
            Class::Sequences => {
                "SELECT c.oid, coalesce(c.relacl, acldefault('s', c.relowner)) AS acl FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relkind = 'S'"
            }
            Class::Routines => {
                "SELECT p.oid, coalesce(p.proacl, acldefault('f', p.proowner)) AS acl FROM pg_proc p \
                 JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1"
            }
        }
    }

    fn all_in_schema(self) -> &'static str {
        match self {
            Class::Tables => "ALL TABLES",
            Class::Sequences => "ALL SEQUENCES",
            Class::Routines => "ALL ROUTINES",
        }
    }

    /// `ALTER DEFAULT PRIVILEGES` spelling and `pg_default_acl.defaclobjtype`.
    fn default_kind(self) -> (&'static str, &'static str) {
        match self {
            Class::Tables => ("TABLES", "r"),
            Class::Sequences => ("SEQUENCES", "S"),
            Class::Routines => ("FUNCTIONS", "f"),
        }
    }
}

const TABLE_PRIVILEGES: &[&str] = &[
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "TRUNCATE",
    "REFERENCES",
    "TRIGGER",
];

fn except<'a>(all: &[&'a str], keep: &[&str]) -> Vec<&'a str> {
    all.iter().copied().filter(|p| !keep.contains(p)).collect()
}

/// The grantee as `aclexplode` names it: a role's oid, or 0 for PUBLIC.
const GRANTEE_OID: &str = "coalesce((SELECT oid FROM pg_roles WHERE rolname = $2), CASE WHEN $2 = 'PUBLIC' THEN 0 END)";

fn pg<'a>(context: &'a str) -> impl Fn(postgres::Error) -> Error + 'a {
    move |e| Error::pg(context, &e)
}

fn grantee_sql(grantee: &str) -> String {
    if grantee == "PUBLIC" {
        "PUBLIC".into()
    } else {
        quote_ident(grantee)
    }
}

struct Planner<'a, C: GenericClient> {
    client: &'a mut C,
    schema: String,
    plan: Plan,
}

impl<C: GenericClient> Planner<'_, C> {
    fn step(&mut self, why: impl Into<String>, sql: impl Into<String>) {
        self.plan.steps.push(Step {
            why: why.into(),
            sql: sql.into(),
            new_login: None,
        });
    }

    /// How many objects of `class` lack one of `privileges` for `grantee`
    /// (`missing`), or hold one of them (`!missing`).
    fn count(&mut self, class: Class, grantee: &str, privileges: &[&str], missing: bool) -> Result<i64> {
        let privileges: Vec<String> = privileges.iter().map(|p| (*p).to_string()).collect();
        let held = format!(
            "(SELECT count(DISTINCT a.privilege_type) FROM aclexplode(o.acl) a \
              WHERE a.grantee = {GRANTEE_OID} AND a.privilege_type = ANY($3))"
        );
        let condition = if missing {
            format!("{held} < cardinality($3::text[])")
        } else {
            format!("{held} > 0")
        };
        let sql = format!("SELECT count(*) FROM ({}) o WHERE {condition}", class.objects_sql());
        let row = self
            .client
            .query_one(&sql, &[&self.schema, &grantee, &privileges])
            .map_err(pg("reading the privileges of the schema's objects"))?;
        Ok(row.get(0))
    }

    fn grant(&mut self, class: Class, grantee: &str, privileges: &[&str]) -> Result<()> {
        let lacking = self.count(class, grantee, privileges, true)?;
        if lacking > 0 {
            self.step(
                format!("{grantee} gets {} on {lacking} existing objects", privileges.join(", ")),
                format!(
                    "GRANT {} ON {} IN SCHEMA {} TO {}",
                    privileges.join(", "),
                    class.all_in_schema(),
                    quote_ident(&self.schema),
                    grantee_sql(grantee)
                ),
            );
        }
        Ok(())
    }

    fn revoke(&mut self, class: Class, grantee: &str, privileges: &[&str]) -> Result<()> {
        let holding = self.count(class, grantee, privileges, false)?;
        if holding > 0 {
            self.step(
                format!(
                    "{grantee} must not hold {} ({holding} objects grant it)",
                    privileges.join(", ")
                ),
                format!(
                    "REVOKE {} ON {} IN SCHEMA {} FROM {}",
                    privileges.join(", "),
                    class.all_in_schema(),
                    quote_ident(&self.schema),
                    grantee_sql(grantee)
                ),
            );
        }
        Ok(())
    }

    /// Default privileges of objects the owner creates later, in any
    /// schema: `copy` builds tables in a staging schema and moves them into
    /// place, and a per-schema default would not follow them. The owner
    /// role serves this one application, so no other schema is affected.
    fn default_grant(&mut self, owner: &str, class: Class, grantee: &str, privileges: &[&str]) -> Result<()> {
        let (kind, objtype) = class.default_kind();
        let privileges_text: Vec<String> = privileges.iter().map(|p| (*p).to_string()).collect();
        let held: i64 = self
            .client
            .query_one(
                &format!(
                    "SELECT count(DISTINCT a.privilege_type) FROM pg_default_acl d \
                     JOIN pg_roles r ON r.oid = d.defaclrole CROSS JOIN LATERAL aclexplode(d.defaclacl) a \
                     WHERE d.defaclnamespace = 0 AND $1 = $1 AND a.grantee = {GRANTEE_OID} \
                       AND a.privilege_type = ANY($3) AND r.rolname = $4 AND d.defaclobjtype::text = $5"
                ),
                &[&self.schema, &grantee, &privileges_text, &owner, &objtype],
            )
            .map_err(pg("reading pg_default_acl"))?
            .get(0);
        if usize::try_from(held).unwrap_or(0) < privileges.len() {
            self.step(
                format!(
                    "{} {owner} creates later grant {grantee} {}",
                    kind.to_lowercase(),
                    privileges.join(", ")
                ),
                format!(
                    "ALTER DEFAULT PRIVILEGES FOR ROLE {} GRANT {} ON {kind} TO {}",
                    quote_ident(owner),
                    privileges.join(", "),
                    grantee_sql(grantee)
                ),
            );
        }
        Ok(())
    }

    /// A schema or database privilege, granted (`want`) or revoked.
    fn container(&mut self, on: &str, grantee: &str, privilege: &str, want: bool) -> Result<()> {
        let (sql, name, target) = if on == "SCHEMA" {
            (
                "SELECT coalesce(nspacl, acldefault('n', nspowner)) AS acl FROM pg_namespace WHERE nspname = $1",
                self.schema.clone(),
                format!("SCHEMA {}", quote_ident(&self.schema)),
            )
        } else {
            (
                "SELECT coalesce(datacl, acldefault('d', datdba)) AS acl FROM pg_database \
                 WHERE datname = current_database() AND $1 = $1",
                String::new(),
                "DATABASE".into(),
            )
        };
        let held: bool = self
            .client
            .query_one(
                &format!(
                    "SELECT coalesce(bool_or(a.privilege_type = $3), false) FROM ({sql}) o \
                     CROSS JOIN LATERAL aclexplode(o.acl) a WHERE a.grantee = {GRANTEE_OID}"
                ),
                &[&name, &grantee, &privilege],
            )
            .map_err(pg("reading schema and database privileges"))?
            .get(0);
        let target = if target == "DATABASE" {
            let db: String = self
                .client
                .query_one("SELECT current_database()::text", &[])
                .map_err(pg("reading the database name"))?
                .get(0);
            format!("DATABASE {}", quote_ident(&db))
        } else {
            target
        };
        if want && !held {
            self.step(
                format!("{grantee} gets {privilege} on the {}", on.to_lowercase()),
                format!("GRANT {privilege} ON {target} TO {}", grantee_sql(grantee)),
            );
        } else if !want && held {
            self.step(
                format!("{grantee} must not hold {privilege} on the {}", on.to_lowercase()),
                format!("REVOKE {privilege} ON {target} FROM {}", grantee_sql(grantee)),
            );
        }
        Ok(())
    }
}

/// Attributes every role of the set has, whatever it had before.
const SAFE_ATTRIBUTES: &str = "NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT";

pub(super) fn plan_in<C: GenericClient>(client: &mut C, options: &RolesOptions) -> Result<Plan> {
    let names = &options.names;
    let mut p = Planner {
        client,
        schema: options.schema.clone(),
        plan: Plan::default(),
    };

    // The roles, with exactly the attributes the set needs.
    let is_super: bool = p
        .client
        .query_one("SELECT rolsuper FROM pg_roles WHERE rolname = current_user", &[])
        .map_err(pg("reading pg_roles"))?
        .get(0);
    for (role, login) in [
        (&names.owner, false),
        (&names.app, true),
        (&names.readonly, true),
        (&names.monitor, true),
    ] {
        let row = p
            .client
            .query_opt(
                "SELECT rolcanlogin, rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls \
                        OR NOT rolinherit FROM pg_roles WHERE rolname = $1",
                &[role],
            )
            .map_err(pg("reading pg_roles"))?;
        let login_word = if login { "LOGIN" } else { "NOLOGIN" };
        match row {
            None => {
                p.plan.steps.push(Step {
                    why: format!("create role {role}"),
                    sql: format!("CREATE ROLE {} {login_word} {SAFE_ATTRIBUTES}", quote_ident(role)),
                    new_login: login.then(|| role.clone()),
                });
            }
            Some(row) => {
                let (can_login, unsafe_attributes): (bool, bool) = (row.get(0), row.get(1));
                if can_login != login || unsafe_attributes {
                    p.step(
                        format!("role {role} exists with other attributes"),
                        format!("ALTER ROLE {} {login_word} {SAFE_ATTRIBUTES}", quote_ident(role)),
                    );
                }
            }
        }
    }

    // The monitoring role: pg_monitor. A superuser running this is already
    // allowed to SET ROLE to the owner; anyone else needs the membership.
    let member = |p: &mut Planner<C>, role: &str, of: &str| -> Result<bool> {
        let row = p
            .client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid \
                 JOIN pg_roles u ON u.oid = m.member WHERE r.rolname = $1 AND u.rolname = $2)",
                &[&of, &role],
            )
            .map_err(pg("reading pg_auth_members"))?;
        Ok(row.get(0))
    };
    if !member(&mut p, &names.monitor, "pg_monitor")? {
        p.step(
            format!("{} reads server statistics (pg_monitor)", names.monitor),
            format!("GRANT pg_monitor TO {}", quote_ident(&names.monitor)),
        );
    }
    if !is_super {
        let current: String = p
            .client
            .query_one("SELECT current_user::text", &[])
            .map_err(pg("reading current_user"))?
            .get(0);
        if !member(&mut p, &current, &names.owner)? {
            p.step(
                format!("{current} may SET ROLE {} (migrate --owner, copy --owner)", names.owner),
                format!("GRANT {} TO {}", quote_ident(&names.owner), quote_ident(&current)),
            );
        }
    }

    // The schema, owned by the owner role.
    let schema_owner: Option<String> = p
        .client
        .query_opt(
            "SELECT r.rolname::text FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner WHERE n.nspname = $1",
            &[&options.schema],
        )
        .map_err(pg("reading pg_namespace"))?
        .map(|r| r.get(0));
    match schema_owner {
        None => p.step(
            format!("create schema {}", options.schema),
            format!(
                "CREATE SCHEMA {} AUTHORIZATION {}",
                quote_ident(&options.schema),
                quote_ident(&names.owner)
            ),
        ),
        Some(owner) if owner != names.owner => p.step(
            format!("schema {} is owned by {owner}", options.schema),
            format!(
                "ALTER SCHEMA {} OWNER TO {}",
                quote_ident(&options.schema),
                quote_ident(&names.owner)
            ),
        ),
        Some(_) => {}
    }

    // Every object of the schema, re-owned (indexes, owned sequences and
    // row types follow their table). Extension members stay the extension's.
    let foreign_owned = p
        .client
        .query(
            "SELECT kind, name, owner FROM ( \
               SELECT CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' \
                        WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS kind, \
                      quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name, \
                      c.relowner AS owner_oid, c.oid AS objid, 'pg_class'::regclass AS classid, r.rolname::text AS owner \
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_roles r ON r.oid = c.relowner \
               WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') \
                 AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass \
                      AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))) \
               UNION ALL \
               SELECT CASE p.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END, \
                      quote_ident(n.nspname) || '.' || quote_ident(p.proname) || '(' || pg_get_function_identity_arguments(p.oid) || ')', \
                      p.proowner, p.oid, 'pg_proc'::regclass, r.rolname::text \
               FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_roles r ON r.oid = p.proowner \
               WHERE n.nspname = $1 \
               UNION ALL \
               SELECT CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, \
                      quote_ident(n.nspname) || '.' || quote_ident(t.typname), t.typowner, t.oid, 'pg_type'::regclass, r.rolname::text \
               FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace JOIN pg_roles r ON r.oid = t.typowner \
               WHERE n.nspname = $1 AND t.typelem = 0 AND (t.typtype IN ('d', 'e', 'r') \
                     OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')) \
             ) o \
             WHERE owner <> $2 AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = o.classid \
                   AND d.objid = o.objid AND d.deptype = 'e') \
             ORDER BY kind, name",
            &[&options.schema, &names.owner],
        )
        .map_err(pg("reading the owners of the schema's objects"))?;
    for row in &foreign_owned {
        let (kind, name, owner): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        p.step(
            format!("{} {name} is owned by {owner}", kind.to_lowercase()),
            format!("ALTER {kind} {name} OWNER TO {}", quote_ident(&names.owner)),
        );
    }

    // copy --owner builds tables in a staging schema of its own.
    p.container("DATABASE", &names.owner, "CREATE", true)?;
    // Nobody else may create objects: a schema for PUBLIC or the app would
    // let the app run DDL after all.
    for grantee in ["PUBLIC", &names.app, &names.readonly, &names.monitor] {
        p.container("SCHEMA", grantee, "CREATE", false)?;
        p.container("DATABASE", grantee, "CREATE", false)?;
    }
    for grantee in [&names.app, &names.readonly, &names.monitor] {
        p.container("SCHEMA", grantee, "USAGE", true)?;
    }

    // PUBLIC holds nothing on the tables and sequences (it would reach the
    // read-only and monitoring roles too); routines keep PUBLIC's EXECUTE.
    p.revoke(Class::Tables, "PUBLIC", TABLE_PRIVILEGES)?;
    p.revoke(Class::Sequences, "PUBLIC", &["SELECT", "USAGE", "UPDATE"])?;

    const APP_TABLES: &[&str] = &["SELECT", "INSERT", "UPDATE", "DELETE"];
    p.grant(Class::Tables, &names.app, APP_TABLES)?;
    p.revoke(Class::Tables, &names.app, &except(TABLE_PRIVILEGES, APP_TABLES))?;
    p.grant(Class::Sequences, &names.app, &["USAGE"])?;
    p.revoke(Class::Sequences, &names.app, &["SELECT", "UPDATE"])?;
    p.grant(Class::Routines, &names.app, &["EXECUTE"])?;

    p.grant(Class::Tables, &names.readonly, &["SELECT"])?;
    p.revoke(Class::Tables, &names.readonly, &except(TABLE_PRIVILEGES, &["SELECT"]))?;
    p.revoke(Class::Sequences, &names.readonly, &["USAGE", "UPDATE"])?;

    // health's sequences check reads pg_sequence_last_value, which needs
    // SELECT (or USAGE) on each sequence; pg_monitor does not give it.
    p.grant(Class::Sequences, &names.monitor, &["SELECT"])?;
    p.revoke(Class::Sequences, &names.monitor, &["USAGE", "UPDATE"])?;
    p.revoke(Class::Tables, &names.monitor, TABLE_PRIVILEGES)?;

    // Tables a later migration creates get the same grants.
    p.default_grant(&names.owner, Class::Tables, &names.app, APP_TABLES)?;
    p.default_grant(&names.owner, Class::Tables, &names.readonly, &["SELECT"])?;
    p.default_grant(&names.owner, Class::Sequences, &names.app, &["USAGE"])?;
    p.default_grant(&names.owner, Class::Sequences, &names.monitor, &["SELECT"])?;
    p.default_grant(&names.owner, Class::Routines, &names.app, &["EXECUTE"])?;

    // The security checks read pg_hba_file_rules, which only a superuser
    // may grant.
    let hba_readable: bool = p
        .client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1) \
                    AND has_table_privilege($1, 'pg_catalog.pg_hba_file_rules', 'SELECT') \
                    AND has_function_privilege($1, 'pg_catalog.pg_hba_file_rules()', 'EXECUTE')",
            &[&names.monitor],
        )
        .map_err(pg("reading pg_hba_file_rules privileges"))?
        .get(0);
    if !hba_readable {
        if is_super {
            p.step(
                format!(
                    "{} reads pg_hba_file_rules for the pg_hba security check",
                    names.monitor
                ),
                format!(
                    "GRANT SELECT ON pg_catalog.pg_hba_file_rules TO {m}; \
                     GRANT EXECUTE ON FUNCTION pg_catalog.pg_hba_file_rules() TO {m}",
                    m = quote_ident(&names.monitor)
                ),
            );
        } else {
            p.plan.notes.push(format!(
                "{} cannot be granted pg_hba_file_rules by a non-superuser: the pg_hba check stays UNKNOWN for it",
                names.monitor
            ));
        }
    }
    p.plan.notes.push(format!(
        "stored password hashes (pg_authid) are readable by superusers only: {} sees password_encryption but \
         not which roles still have md5 secrets",
        names.monitor
    ));
    Ok(p.plan)
}
