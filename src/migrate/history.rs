//! The history table: one row per applied migration (or baseline), written
//! in the same transaction as the migration itself.

use postgres::GenericClient;

use crate::error::{Error, Result};
use crate::postgres::bookkeeping;
use crate::postgres::conn::quote_ident;

#[derive(Debug, Clone)]
pub struct HistoryTable {
    pub schema: String,
    pub table: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct AppliedRow {
    pub version: i64,
    pub name: String,
    pub checksum: Option<String>,
    /// `migration`, or `baseline` for a row written by `migrate baseline`.
    pub kind: String,
    /// UTC, ISO 8601.
    pub applied_at: String,
    pub duration_ms: i64,
    pub applied_by: String,
}

impl AppliedRow {
    pub fn is_baseline(&self) -> bool {
        self.kind == "baseline"
    }
}

impl HistoryTable {
    pub fn qualified(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.table))
    }

    /// Advisory lock key: the same table in the same database means the same lock.
    pub fn lock_key(&self) -> i64 {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!("godwit-migrate:{}.{}", self.schema, self.table).as_bytes());
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&digest[..8]);
        i64::from_be_bytes(bytes)
    }

    pub fn exists(&self, client: &mut impl GenericClient) -> Result<bool> {
        let row = client
            .query_one(
                "SELECT to_regclass($1) IS NOT NULL",
                &[&format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.table))],
            )
            .map_err(|e| Error::pg("looking for the history table", &e))?;
        Ok(row.get(0))
    }

    /// Creates the schema and table when missing. Call under the migration lock.
    pub fn ensure(&self, client: &mut impl GenericClient) -> Result<()> {
        // Checked first so that roles without CREATE on the database (or not
        // owning the table) can run migrations once the table exists.
        if self.exists(client)? {
            return Ok(());
        }
        let sql = bookkeeping::ddl(&bookkeeping::MIGRATION_HISTORY, &self.schema, &self.table);
        client
            .batch_execute(&sql)
            .map_err(|e| Error::pg(format!("creating history table {}", self.qualified()), &e))
    }

    /// Every row, oldest version first; none when the table does not exist.
    pub fn load(&self, client: &mut impl GenericClient) -> Result<Vec<AppliedRow>> {
        if !self.exists(client)? {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT version, name, checksum, kind,
                    to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                    duration_ms, applied_by
             FROM {} ORDER BY version",
            self.qualified()
        );
        let rows = client
            .query(&sql, &[])
            .map_err(|e| Error::pg(format!("reading {}", self.qualified()), &e))?;
        Ok(rows
            .iter()
            .map(|row| AppliedRow {
                version: row.get(0),
                name: row.get(1),
                checksum: row.get(2),
                kind: row.get(3),
                applied_at: row.get(4),
                duration_ms: row.get(5),
                applied_by: row.get(6),
            })
            .collect())
    }

    pub fn record(
        &self,
        client: &mut impl GenericClient,
        version: i64,
        name: &str,
        checksum: Option<&str>,
        kind: &str,
        duration_ms: i64,
    ) -> Result<()> {
        let sql = format!(
            "INSERT INTO {} (version, name, checksum, kind, duration_ms) VALUES ($1, $2, $3, $4, $5)",
            self.qualified()
        );
        client
            .execute(&sql, &[&version, &name, &checksum, &kind, &duration_ms])
            .map(|_| ())
            .map_err(|e| Error::pg(format!("recording version {version} in {}", self.qualified()), &e))
    }

    pub fn forget(&self, client: &mut impl GenericClient, version: i64) -> Result<()> {
        let sql = format!("DELETE FROM {} WHERE version = $1", self.qualified());
        client
            .execute(&sql, &[&version])
            .map(|_| ())
            .map_err(|e| Error::pg(format!("removing version {version} from {}", self.qualified()), &e))
    }

    pub fn update_checksum(
        &self,
        client: &mut impl GenericClient,
        version: i64,
        name: &str,
        checksum: &str,
    ) -> Result<()> {
        let sql = format!(
            "UPDATE {} SET checksum = $2, name = $3 WHERE version = $1",
            self.qualified()
        );
        client
            .execute(&sql, &[&version, &checksum, &name])
            .map(|_| ())
            .map_err(|e| Error::pg(format!("updating version {version} in {}", self.qualified()), &e))
    }
}
