//! The floor of one client's latency: the loop `godwit workload` runs for
//! each execution on PostgreSQL, with nothing of the harness around it
//! (no class mix, no parameter pools, no shared tickets): one
//! tokio-postgres connection on a current-thread runtime, one prepared
//! statement, the rows counted as they stream in. bench/workload.py runs it
//! beside `pgbench -M prepared -c 1` and `godwit workload --clients 1`, so
//! the gap between godwit and pgbench splits into the driver's part and
//! the harness's.
//!
//!     cargo run --release --example workload_floor -- URL ROWS SECONDS
//!
//! Prints one JSON line: executions per second and the median latency.

use std::time::{Duration, Instant};

use futures_util::StreamExt;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: workload_floor URL ROWS SECONDS";
    let url = args.next().ok_or(usage)?;
    let rows: i64 = args.next().ok_or(usage)?.parse()?;
    let seconds: u64 = args.next().ok_or(usage)?.parse()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (executions, p50_us) = runtime.block_on(async move {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        let lookup = client.prepare("SELECT abalance FROM accounts WHERE aid = $1").await?;
        let mut latency = hdrhistogram::Histogram::<u32>::new_with_bounds(1, 60_000_000, 2)?;
        // The same cheap generator as the harness's draws (xorshift).
        let mut state = 0x2545_F491_4F6C_DD1D_u64;
        let warm_until = Instant::now() + Duration::from_secs(1);
        let mut measuring = false;
        let mut until = warm_until;
        loop {
            let now = Instant::now();
            if now >= until {
                if measuring {
                    break;
                }
                measuring = true;
                until = now + Duration::from_secs(seconds);
            }
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let aid = i64::try_from(state % u64::try_from(rows)?)? + 1;
            let began = Instant::now();
            let stream = client.query_raw(&lookup, [aid]).await?;
            let mut stream = std::pin::pin!(stream);
            while let Some(row) = stream.next().await {
                row?;
            }
            if measuring {
                latency.saturating_record(u64::try_from(began.elapsed().as_micros())?);
            }
        }
        Ok::<_, Box<dyn std::error::Error>>((latency.len(), latency.value_at_quantile(0.5)))
    })?;
    #[allow(clippy::cast_precision_loss)] // counts far below 2^53
    let qps = executions as f64 / seconds as f64;
    #[allow(clippy::cast_precision_loss)]
    let p50_ms = p50_us as f64 / 1000.0;
    println!(
        "{}",
        serde_json::json!({"qps": qps, "p50_ms": p50_ms, "executions": executions})
    );
    Ok(())
}
