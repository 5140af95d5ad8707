use serde_json::json;

use super::*;

const SCRIPT_NAME: &str = "<script>alert(1)</script>";

fn health() -> serde_json::Value {
    json!({
        "status": "warning",
        "target": "postgresql://u@h:5432/db",
        "checks": [
            {"name": "long_running_queries", "status": "warning", "value": 75.0, "unit": "seconds",
             "message": "1 query running for 75s", "warning": 60.0, "critical": 300.0,
             "details": ["pid 42: SELECT pg_sleep(100) </td>"]},
            {"name": "sequences", "status": "unknown", "value": null, "unit": "percent",
             "message": "permission denied", "warning": 85.0, "critical": 95.0},
            {"name": "cache_hit", "status": "ok", "value": 99.5, "unit": "percent",
             "message": "99.5%", "warning": 99.0, "critical": 95.0},
        ]
    })
}

fn verify() -> serde_json::Value {
    json!({
        "source": "app.db", "target": "postgresql://u@h/db", "schema": "public", "status": "different",
        "seconds": 0.5,
        "tables": [
            {"table": SCRIPT_NAME, "target_table": SCRIPT_NAME, "status": "different", "rows_source": 2,
             "rows_target": 2, "key": ["id"], "missing": [], "missing_count": 0, "extra": [], "extra_count": 0,
             "changed": [[1]], "changed_count": 1,
             "diffs": [{"key": [1], "columns": [{"column": "note", "source": "'</td>'", "target": "'x'"}]}],
             "method": "merge", "seconds": 0.1},
            {"table": "users", "target_table": "users", "status": "equal", "rows_source": 5, "rows_target": 5,
             "key": ["id"], "missing": [], "missing_count": 0, "extra": [], "extra_count": 0, "changed": [],
             "changed_count": 0, "method": "merge", "seconds": 0.1},
        ]
    })
}

/// A workload document in the shape of issue #21's `--json`.
pub(super) fn workload() -> serde_json::Value {
    let level = |p50: f64| json!({"p50_ms": p50, "p95_ms": p50 * 2.0, "p99_ms": p50 * 3.0, "max_ms": p50 * 5.0, "qps": 1000.0 / p50, "errors": 0});
    json!({
        "classes": [
            {"name": "user_by_email", "fingerprint": "abc", "source_sql": "SELECT * FROM users WHERE email = ?",
             "target_sql": "SELECT * FROM users WHERE email = $1", "parity": "equal", "examples": [],
             "latency": {"source": {"1": level(0.5), "10": level(1.0), "100": level(4.0)},
                         "target": {"1": level(0.8), "10": level(2.0), "100": level(30.0)}},
             "misses": ["p95 60 ms at 100 clients is over 2x the source's 8 ms"],
             "plan_flags": ["Seq Scan on users (100000 rows)"],
             "advice": [{"statement": "CREATE INDEX CONCURRENTLY ON users (email)", "estimated_size": "2 MB", "classes": ["user_by_email"]}]},
            {"name": SCRIPT_NAME, "fingerprint": "def", "source_sql": "SELECT '</td>'", "target_sql": "SELECT '</td>'",
             "parity": "different", "examples": [{"params": [], "source": [["</td>"]], "target": [["x"]], "kind": "values"}],
             "latency": {}, "plan_flags": [], "advice": []},
        ],
        "summary": {"classes": 2, "equal": 1, "different": 1, "targets": {"p95_ms": 50.0, "max_ratio": 2.0}}
    })
}

fn everything() -> Dossier {
    Dossier {
        health: Some(health()),
        inspect: Some(json!({
            "target": "db",
            "findings": [
                {"kind": "analyze_needed", "object": SCRIPT_NAME, "evidence": "never analyzed </td>",
                 "suggestion": "ANALYZE \"<script>alert(1)</script>\";"},
                {"kind": "analyze_needed", "object": "users", "evidence": "never analyzed", "suggestion": "ANALYZE users;"},
                {"kind": "duplicate_index", "object": "i2", "evidence": "same as i1", "suggestion": "DROP INDEX i2;"},
            ],
            "notes": ["pg_stat_statements is not installed"]
        })),
        verify: Some(verify()),
        workload: Some(workload()),
        ..Dossier::new("godwit report", "postgresql://u@h/db")
    }
}

#[test]
fn names_and_values_from_the_data_stay_text() {
    let page = render(&everything()).unwrap();
    // Our own sort script is the only script element.
    assert_eq!(page.matches("<script").count(), 1, "{page}");
    assert!(!page.contains(SCRIPT_NAME));
    assert!(page.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"), "{page}");
    assert!(!page.contains("'</td>'"));
    assert!(page.contains("&lt;&#x2f;td&gt;"));
}

#[test]
fn overview_statuses_are_the_jsons() {
    let dossier = everything();
    let bars = overview(&dossier);
    let health: Vec<(&str, &str)> = bars
        .iter()
        .filter(|b| b.section == "health")
        .map(|b| (b.name.as_str(), b.status.as_str()))
        .collect();
    assert_eq!(
        health,
        [
            ("long_running_queries", "warning"),
            ("sequences", "unknown"),
            ("cache_hit", "ok")
        ]
    );
    let verify = bars.iter().find(|b| b.section == "verify").unwrap();
    assert_eq!(
        (verify.status.as_str(), verify.level, verify.value.as_str()),
        ("different", "critical", "1 of 2 equal")
    );
    let inspect: Vec<(&str, &str)> = bars
        .iter()
        .filter(|b| b.section == "inspect")
        .map(|b| (b.name.as_str(), b.value.as_str()))
        .collect();
    assert_eq!(
        inspect,
        [
            ("analyze_needed", "2 findings"),
            ("duplicate_index", "1 finding"),
            ("notes", "1 not looked at")
        ]
    );
    let workload: Vec<(&str, &str)> = bars
        .iter()
        .filter(|b| b.section == "workload")
        .map(|b| (b.status.as_str(), b.level))
        .collect();
    assert_eq!(workload, [("equal", "warning"), ("different", "critical")]);
    // Every bar links to an element of the page.
    let page = render(&dossier).unwrap();
    for bar in &bars {
        assert!(
            page.contains(&format!("id=\"{}\"", bar.anchor)),
            "no #{} in the page",
            bar.anchor
        );
    }
}

#[test]
fn latency_chart_draws_each_percentile_per_engine_and_the_targets() {
    let doc = workload();
    let chart = latency_chart(&doc["classes"][0], Some(&doc)).unwrap();
    let names: Vec<String> = chart
        .series
        .iter()
        .map(|s| format!("{} {}", s.engine, s.percentile))
        .collect();
    assert_eq!(
        names,
        [
            "source p50",
            "source p95",
            "source p99",
            "target p50",
            "target p95",
            "target p99"
        ]
    );
    let x: Vec<&str> = chart.x_ticks.iter().map(|t| t.label.as_str()).collect();
    assert_eq!(x, ["1", "10", "100"], "levels in numeric order, not string order");
    // The highest figure (target p99 at 100 clients, 90 ms) is inside the plot.
    let target_p99 = &chart.series[5];
    assert!(target_p99.dots.iter().all(|d| d.y >= chart.top && d.y <= chart.bottom));
    assert!(target_p99.dots[2].y < target_p99.dots[0].y, "slower is higher");
    let labels: Vec<&str> = chart.targets.iter().map(|t| t.label.as_str()).collect();
    assert_eq!(labels, ["p95 target 50 ms", "2× source p95"]);
    // A class without figures has no chart.
    assert!(latency_chart(&doc["classes"][1], Some(&doc)).is_none());

    let page = render(&Dossier {
        workload: Some(doc),
        ..Dossier::new("godwit workload", "db")
    })
    .unwrap();
    assert_eq!(page.matches("<svg").count(), 1);
    assert!(page.contains("CREATE INDEX CONCURRENTLY ON users (email)"));
    assert!(page.contains("class=\"target-line\""));
}

#[test]
fn axis_steps_are_round() {
    assert_eq!(chart::nice_scale_for_tests(90.0), (50.0, 100.0));
    assert_eq!(chart::nice_scale_for_tests(0.0), (1.0, 4.0));
    assert_eq!(chart::nice_scale_for_tests(7.0), (2.0, 8.0));
}

#[test]
fn a_target_far_above_every_figure_is_said_not_drawn() {
    let doc = json!({
        "classes": [{"name": "fast", "parity": "equal",
                     "latency": {"source": {"1": {"p50_ms": 0.1, "p95_ms": 0.2, "p99_ms": 0.3}},
                                 "target": {"1": {"p50_ms": 0.2, "p95_ms": 0.4, "p99_ms": 0.5}}}}],
        "summary": {"targets": {"p95_ms": 100.0, "max_ratio": 2.0}}
    });
    let chart = latency_chart(&doc["classes"][0], Some(&doc)).unwrap();
    let labels: Vec<&str> = chart.targets.iter().map(|t| t.label.as_str()).collect();
    assert_eq!(labels, ["2× source p95"]);
    assert_eq!(chart.notes, ["p95 target 100 ms: every figure is far below it"]);
    assert_eq!(chart.y_ticks.last().unwrap().label, "0.6 ms");
}
