//! A comparison job's session with the target, driven by a runtime of its
//! own. The blocking driver enters its runtime once for every message it
//! reads, and binary COPY sends one message per row: reading a whole
//! `COPY ... TO STDOUT` inside one `block_on` instead takes that cost
//! (about a third of the target reader's CPU) off every row.

use futures_util::StreamExt;

use crate::error::{Error, Result};
use crate::postgres::conn::ConnSpec;

pub struct Session {
    runtime: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
}

/// Whether a consumer of COPY data wants more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum More {
    Yes,
    No,
}

impl Session {
    /// Connects (one attempt: the comparison's first session has already
    /// waited for the server, as `--connect-timeout` says) and names the
    /// session as a verify's.
    pub fn connect(target: &ConnSpec) -> Result<Session> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("starting the target session's runtime", e))?;
        let client = runtime.block_on(target.connect_async())?;
        let mut session = Session { runtime, client };
        session.batch_execute("SET application_name = 'godwit verify'", "setting up the session")?;
        Ok(session)
    }

    pub fn batch_execute(&mut self, sql: &str, context: &str) -> Result<()> {
        self.runtime
            .block_on(self.client.batch_execute(sql))
            .map_err(|e| Error::pg(context, &e))
    }

    /// Runs a `COPY ... TO STDOUT` and hands each message's bytes to
    /// `take`, in order, until the end or until `take` wants no more (the
    /// rest of the COPY is then read and dropped by the driver).
    pub fn copy_out(&mut self, sql: &str, context: &str, take: &mut dyn FnMut(&[u8]) -> Result<More>) -> Result<()> {
        let client = &self.client;
        self.runtime.block_on(async {
            let stream = client.copy_out(sql).await.map_err(|e| Error::pg(context, &e))?;
            let mut stream = std::pin::pin!(stream);
            while let Some(message) = stream.next().await {
                let message = message.map_err(|e| Error::pg(context, &e))?;
                if take(&message)? == More::No {
                    break;
                }
            }
            Ok(())
        })
    }
}
