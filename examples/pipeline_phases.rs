//! Throughput of the client side of a copy, phase by phase: reading rows
//! from the source (SQLite or documents), then reading and encoding them into binary COPY, with
//! nothing sent. BENCHMARKS.md quotes it next to the COPY, index and
//! constraint phases that `godwit copy` itself reports.
//!
//!     cargo run --release --example pipeline_phases -- bench/out/social-sf1.db

use std::time::Instant;

use godwit::config::Config;
use godwit::plan::types::{ProfileNeed, profile_need};
use godwit::plan::{self, IdentifierStyle, PlanOptions};
use godwit::postgres::encode::{Scratch, begin_row, encode_value};
use godwit::source::{Flow, Scan, Selected, ValueRef};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: pipeline_phases SOURCE")?;
    let source = godwit::source::open(&path)?;
    let schema = source.describe(&|_, c| profile_need(&c.declared_type) == ProfileNeed::Always)?;
    let plan = plan::build(
        &path,
        &schema,
        &Config::default(),
        &PlanOptions {
            schema: "public".into(),
            identifiers: IdentifierStyle::Exact,
        },
    )?;
    let mut reader = source.readers(1)?.pop().ok_or("no reader")?;
    let (mut rows_total, mut read_bytes, mut encoded_bytes) = (0u64, 0u64, 0u64);
    let (mut read_secs, mut encode_secs) = (0.0f64, 0.0f64);
    for table in &plan.tables {
        let columns: Vec<_> = table.copied_columns().collect();
        let select: Vec<Selected> = columns.iter().map(|c| Selected::Column(c.source.clone())).collect();
        let scan = Scan {
            table: &table.source,
            select: &select,
            rowids: None,
            order_by: None,
        };

        let started = Instant::now();
        reader.scan(&scan, &mut |row| {
            for i in 0..columns.len() {
                read_bytes += match row.value(i) {
                    ValueRef::Text(t) | ValueRef::Blob(t) => t.len() as u64,
                    ValueRef::Null => 0,
                    _ => 8,
                };
            }
            rows_total += 1;
            Ok(Flow::Continue)
        })?;
        read_secs += started.elapsed().as_secs_f64();

        let started = Instant::now();
        let mut buf = Vec::with_capacity(1 << 20);
        let mut scratch = Scratch::default();
        reader.scan(&scan, &mut |row| {
            begin_row(&mut buf, columns.len());
            for (i, column) in columns.iter().enumerate() {
                // Values the copy would reject are skipped here; none in the benchmark data.
                let _ = encode_value(&mut buf, row.value(i), &column.cast, &mut scratch);
            }
            if buf.len() >= 512 * 1024 {
                encoded_bytes += buf.len() as u64;
                buf.clear();
            }
            Ok(Flow::Continue)
        })?;
        encoded_bytes += buf.len() as u64;
        encode_secs += started.elapsed().as_secs_f64();
    }
    let mb = |bytes: u64, secs: f64| bytes as f64 / 1e6 / secs;
    let per_s = |rows: u64, secs: f64| rows as f64 / secs;
    println!(
        "rows {rows_total}, values read {:.1} MB, encoded {:.1} MB (one thread)",
        read_bytes as f64 / 1e6,
        encoded_bytes as f64 / 1e6
    );
    println!(
        "read:          {read_secs:6.2} s  {:>10.0} rows/s  {:6.1} MB/s",
        per_s(rows_total, read_secs),
        mb(read_bytes, read_secs)
    );
    println!(
        "read + encode: {encode_secs:6.2} s  {:>10.0} rows/s  {:6.1} MB/s",
        per_s(rows_total, encode_secs),
        mb(encoded_bytes, encode_secs)
    );
    println!("encode alone:  {:6.2} s", encode_secs - read_secs);
    Ok(())
}
