//! SQLite rtree tables become ordinary tables (id, coordinates as SQLite
//! stored them, auxiliary columns) with a GiST index on a `box` (2-D) or a
//! `cube` (1 to 5 dimensions) built from the coordinate columns.

use crate::plan::types::{Cast, PgType};
use crate::plan::{IndexPlan, NameAllocator, Plan};
use crate::postgres::conn::quote_ident as q;
use crate::source::SourceSchema;
use crate::source::virtual_table::VirtualKind;

pub(super) fn apply(plan: &mut Plan, schema: &SourceSchema, allocator: &mut NameAllocator) {
    for vt in &schema.virtual_tables {
        let VirtualKind::Rtree(rtree) = &vt.kind else { continue };
        let Some(ti) = plan.tables.iter().position(|t| t.source == vt.name) else {
            continue;
        };
        if rtree.dimensions.len() != 2 {
            super::fulltext::setup(plan, "CREATE EXTENSION IF NOT EXISTS cube".into());
        }
        let table = &mut plan.tables[ti];
        let coordinates: Vec<&String> = rtree.dimensions.iter().flat_map(|(min, max)| [min, max]).collect();
        // rtree keeps 32-bit floats (rtree_i32 32-bit integers): the same
        // width in PostgreSQL holds exactly the values SQLite returns.
        let (pg_type, cast, reason) = if rtree.integer {
            (
                PgType::Integer,
                Cast::Integer { bits: 32 },
                "rtree_i32 stores 32-bit integers",
            )
        } else {
            (PgType::Real, Cast::Float { bits: 32 }, "rtree stores 32-bit floats")
        };
        for column in table.columns.iter_mut() {
            if coordinates.iter().any(|c| c.eq_ignore_ascii_case(&column.source)) {
                column.pg_type = pg_type.clone();
                column.cast = cast.clone();
                column.reason = reason.into();
                column.speculative = false;
            }
        }
        let target_of = |source: &str| {
            table
                .columns
                .iter()
                .find(|c| c.source.eq_ignore_ascii_case(source))
                .map(|c| q(&c.target))
                .unwrap_or_else(|| q(source))
        };
        let mins: Vec<String> = rtree.dimensions.iter().map(|(min, _)| target_of(min)).collect();
        let maxs: Vec<String> = rtree.dimensions.iter().map(|(_, max)| target_of(max)).collect();
        let (expression, kind) = if rtree.dimensions.len() == 2 {
            (
                format!("box(point({}, {}), point({}, {}))", mins[0], mins[1], maxs[0], maxs[1]),
                "box",
            )
        } else {
            (
                format!(
                    "cube(ARRAY[{}]::float8[], ARRAY[{}]::float8[])",
                    mins.join(", "),
                    maxs.join(", ")
                ),
                "cube",
            )
        };
        let index = allocator.allocate(&format!("{}_{kind}_idx", table.target));
        table.indexes.push(IndexPlan {
            name: index.clone(),
            unique: false,
            definition: format!("USING gist (({expression}))"),
        });
        let query = if kind == "box" {
            format!("WHERE {expression} && box(point(x1, y1), point(x2, y2)) (overlap) or @> (contains)")
        } else {
            format!("WHERE {expression} && cube(ARRAY[mins], ARRAY[maxs]) (overlap) or @> (contains)")
        };
        plan.translations.push(format!(
            "{} {} ({} dimension{}) → table {} with GiST index {index} on {kind}; query: {query}",
            vt.module,
            vt.name,
            rtree.dimensions.len(),
            if rtree.dimensions.len() == 1 { "" } else { "s" },
            table.target
        ));
    }
}
