//! The `--html` pages and `godwit report`, opened in a real headless
//! Chromium (Debian's `chromium`, installed by scripts/install-deps.sh):
//! no console errors, the overview's statuses are the JSON's, names from
//! the data stay text, and a 1280x800 screenshot is not blank.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value;

const HOSTILE_TABLE: &str = "<script>alert(1)</script>";

/// The browser, from CHROMIUM or the PATH. Missing is a failure: the
/// project's setup installs it.
fn chromium() -> PathBuf {
    if let Ok(path) = std::env::var("CHROMIUM") {
        return PathBuf::from(path);
    }
    for name in ["chromium", "chromium-browser"] {
        if let Ok(out) = Command::new("sh").args(["-c", &format!("command -v {name}")]).output()
            && out.status.success()
        {
            return PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        }
    }
    panic!("chromium is not installed: run scripts/install-deps.sh");
}

/// Headless, offline, with a fresh profile each run.
fn browser(profile: &Path) -> Command {
    let mut cmd = Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

struct Rendered {
    dom: String,
    /// What the page wrote to the console (Chromium logs every message as CONSOLE).
    console: Vec<String>,
}

fn open(page: &Path) -> Rendered {
    let profile = tempfile::tempdir().unwrap();
    let out = browser(profile.path())
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    assert!(out.status.success(), "chromium failed: {}", stderr(&out));
    Rendered {
        dom: stdout(&out),
        console: stderr(&out)
            .lines()
            .filter(|l| l.contains(":CONSOLE"))
            .map(str::to_string)
            .collect(),
    }
}

/// A 1280x800 screenshot, decoded: (width, height, RGB pixels).
fn screenshot(page: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let profile = tempfile::tempdir().unwrap();
    let shot = profile.path().join("shot.png");
    let out = browser(profile.path())
        .args(["--window-size=1280,800"])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    assert!(out.status.success(), "chromium failed: {}", stderr(&out));
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let pixels = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width, info.height, pixels)
}

/// Not blank: many distinct colours and a spread of brightness, as text,
/// bars and tables give and an empty or one-colour page does not.
fn assert_not_blank(page: &Path) {
    let (width, height, pixels) = screenshot(page);
    assert_eq!((width, height), (1280, 800));
    let brightness: Vec<f64> = pixels
        .iter()
        .map(|p| (f64::from(p[0]) + f64::from(p[1]) + f64::from(p[2])) / 3.0)
        .collect();
    let n = f64::from(u32::try_from(brightness.len()).unwrap());
    let mean = brightness.iter().sum::<f64>() / n;
    let variance = brightness.iter().map(|b| (b - mean).powi(2)).sum::<f64>() / n;
    let colours: std::collections::HashSet<[u8; 3]> = pixels.iter().copied().collect();
    assert!(
        variance > 100.0 && colours.len() > 50,
        "{} looks blank: variance {variance:.1}, {} colours",
        page.display(),
        colours.len()
    );
}

/// Every overview bar in the DOM: (section, name, status).
fn bars(dom: &str) -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    for chunk in dom.split("<a class=\"bar ").skip(1) {
        let tag = &chunk[..chunk.find('>').unwrap()];
        let attr = |name: &str| -> String {
            let start = tag
                .find(&format!("{name}=\""))
                .unwrap_or_else(|| panic!("no {name} in {tag}"))
                + name.len()
                + 2;
            unescape(&tag[start..start + tag[start..].find('"').unwrap()])
        };
        found.push((attr("data-section"), attr("data-name"), attr("data-status")));
    }
    found
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// What a healthy page shows in the browser: it rendered, the script ran
/// to its end, nothing on the console, only our own script element.
fn assert_clean(rendered: &Rendered) {
    assert!(rendered.console.is_empty(), "console output: {:?}", rendered.console);
    assert!(
        rendered.dom.contains("data-script=\"ran\""),
        "the sort script did not finish"
    );
    assert_eq!(
        rendered.dom.matches("<script").count(),
        1,
        "a script element from the data"
    );
    assert!(rendered.dom.contains("id=\"overview\""));
}

fn health_statuses(health: &Value) -> Vec<(String, String, String)> {
    health["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                "health".to_string(),
                c["name"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_console_check_catches_a_script_error() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("bad.html");
    std::fs::write(&page, "<html><body><p>x</p><script>missing();</script></body></html>").unwrap();
    let rendered = open(&page);
    assert_eq!(rendered.console.len(), 1, "{:?}", rendered.console);
    assert!(rendered.console[0].contains("missing is not defined"));
}

#[test]
fn health_page_statuses_equal_the_json() {
    let db = fresh_database("html_health");
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("health.html");
    let url = db.to_string();
    let out = godwit(&["health", "--to", &url, "--json", "--html", page.to_str().unwrap()]);
    let json: Value = serde_json::from_str(&stdout(&out)).expect("--json stays the whole of stdout");
    let rendered = open(&page);
    assert_clean(&rendered);
    assert_eq!(bars(&rendered.dom), health_statuses(&json));
    assert!(rendered.dom.contains("<td>cache_hit</td>"));
    assert_not_blank(&page);
}

#[test]
fn inspect_page_groups_findings_with_their_sql() {
    let db = fresh_database("html_inspect");
    let mut client = db.connect().unwrap();
    client
        .batch_execute(&format!(
            "CREATE TABLE parent (id int PRIMARY KEY);
             CREATE TABLE \"{HOSTILE_TABLE}\" (id int PRIMARY KEY, parent_id int REFERENCES parent);
             CREATE INDEX a ON parent (id); CREATE INDEX b ON parent (id);"
        ))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("inspect.html");
    let url = db.to_string();
    let out = godwit(&["inspect", "--to", &url, "--json", "--html", page.to_str().unwrap()]);
    assert_exit(&out, 3);
    let json: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let rendered = open(&page);
    assert_clean(&rendered);
    // One bar per kind found, in the JSON's order.
    let mut kinds: Vec<String> = Vec::new();
    for f in json["findings"].as_array().unwrap() {
        let kind = f["kind"].as_str().unwrap().to_string();
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    let shown: Vec<String> = bars(&rendered.dom)
        .into_iter()
        .filter(|(_, name, _)| name != "notes")
        .map(|(_, name, _)| name)
        .collect();
    assert_eq!(shown, kinds);
    assert!(kinds.contains(&"missing_fk_index".to_string()) && kinds.contains(&"duplicate_index".to_string()));
    // The suggestion for the hostile table is text inside a code block.
    assert!(
        rendered.dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        rendered.dom
    );
    assert!(rendered.dom.contains("<pre class=\"sql\">CREATE INDEX"));
    assert_not_blank(&page);
}

/// A source whose table name and values are markup.
fn hostile_source(dir: &Path) -> PathBuf {
    sqlite_file(
        dir,
        "hostile.db",
        &format!(
            "CREATE TABLE \"{HOSTILE_TABLE}\" (id INTEGER PRIMARY KEY, note TEXT);
             INSERT INTO \"{HOSTILE_TABLE}\" VALUES (1, '</td></tr></table><img src=x onerror=alert(2)>'), (2, 'plain');
             CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);
             INSERT INTO users VALUES (1, 'ann'), (2, 'bob');"
        ),
    )
}

#[test]
fn report_page_keeps_markup_from_the_data_as_text() {
    let db = fresh_database("html_report");
    let dir = tempfile::tempdir().unwrap();
    let source = hostile_source(dir.path());
    assert_exit(&copy(&source, &db, &[]), 0);
    // The copy's first row now differs: its value from the source shows in the page.
    let mut client = db.connect().unwrap();
    client
        .batch_execute(&format!("UPDATE \"{HOSTILE_TABLE}\" SET note = 'changed' WHERE id = 1"))
        .unwrap();
    let page = dir.path().join("report.html");
    let workload = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report/workload.json");
    let url = db.to_string();
    let out = godwit(&[
        "report",
        "--to",
        &url,
        "--source",
        source.to_str().unwrap(),
        "--workload",
        workload.to_str().unwrap(),
        "--json",
        "--html",
        page.to_str().unwrap(),
    ]);
    assert_exit(&out, 4);
    let json: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["verify"]["status"], "different");

    let rendered = open(&page);
    assert_clean(&rendered);
    assert!(!rendered.dom.contains("<img"), "markup from a value became an element");
    assert!(
        rendered
            .dom
            .contains("&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;&lt;img src=x onerror=alert(2)&gt;")
    );
    assert!(
        rendered
            .dom
            .contains("<a href=\"#verify-0\">&lt;script&gt;alert(1)&lt;/script&gt;</a>")
    );

    // The overview: health's bars are its checks, verify's is its status,
    // workload's are each class's parity, all as the JSON says.
    let shown = bars(&rendered.dom);
    let health: Vec<_> = shown.iter().filter(|b| b.0 == "health").cloned().collect();
    assert_eq!(health, health_statuses(&json["health"]));
    let verify: Vec<_> = shown.iter().filter(|b| b.0 == "verify").map(|b| b.2.clone()).collect();
    assert_eq!(verify, ["different"]);
    let workload: Vec<(String, String)> = shown
        .iter()
        .filter(|b| b.0 == "workload")
        .map(|b| (b.1.clone(), b.2.clone()))
        .collect();
    let expected: Vec<(String, String)> = json["workload"]["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["parity"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(workload, expected);
    // One latency chart per class with figures, the target lines drawn in.
    assert_eq!(rendered.dom.matches("<svg class=\"chart\"").count(), 3);
    assert!(rendered.dom.contains("p95 target 100 ms"));
    assert!(
        rendered
            .dom
            .contains("CREATE INDEX CONCURRENTLY comments_post_id_idx ON comments (post_id)")
    );
    assert_not_blank(&page);
}

#[test]
fn verify_page_lists_tables_and_the_first_differing_keys() {
    let db = fresh_database("html_verify");
    let dir = tempfile::tempdir().unwrap();
    let source = hostile_source(dir.path());
    assert_exit(&copy(&source, &db, &[]), 0);
    let mut client = db.connect().unwrap();
    client.batch_execute("DELETE FROM users WHERE id = 2").unwrap();
    let page = dir.path().join("verify.html");
    let url = db.to_string();
    let out = godwit(&[
        "verify",
        source.to_str().unwrap(),
        "--to",
        &url,
        "--json",
        "--html",
        page.to_str().unwrap(),
    ]);
    assert_exit(&out, 4);
    let json: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let html = std::fs::read_to_string(&page).unwrap();
    let verify_bar: Vec<_> = bars(&html).into_iter().map(|b| b.2).collect();
    assert_eq!(verify_bar, [json["status"].as_str().unwrap().to_string()]);
    assert!(
        html.contains("<dt>1 missing from the target</dt><dd><code>[2]</code>"),
        "{html}"
    );
    assert_eq!(html.matches("<script").count(), 1);
}

#[test]
fn a_3000_table_catalog_fits_in_under_a_megabyte() {
    use godwit::report::html::{Dossier, render};
    let tables: Vec<Value> = (0..3000)
        .map(|i| {
            serde_json::json!({
                "table": format!("app_table_{i:04}"), "target_table": format!("app_table_{i:04}"),
                "status": "equal", "rows_source": 1000 + i, "rows_target": 1000 + i, "key": ["id"],
                "missing": [], "missing_count": 0, "extra": [], "extra_count": 0, "changed": [],
                "changed_count": 0, "method": "merge", "seconds": 0.01
            })
        })
        .collect();
    // Every table due for ANALYZE, each a finding of its own.
    let findings: Vec<Value> = (0..3000)
        .map(|i| {
            serde_json::json!({
                "kind": "analyze_needed", "object": format!("public.app_table_{i:04}"),
                "evidence": "12000 rows changed since the last ANALYZE (threshold 5050)",
                "suggestion": format!("ANALYZE public.app_table_{i:04};")
            })
        })
        .collect();
    let mut page = Dossier::new("godwit report", "postgresql://app@db:5432/app");
    page.verify = Some(serde_json::json!({
        "source": "app.db", "target": "postgresql://app@db:5432/app", "schema": "public",
        "status": "equal", "tables": tables, "seconds": 12.5
    }));
    page.inspect = Some(serde_json::json!({"target": "db", "findings": findings, "notes": []}));
    let html = render(&page).unwrap();
    assert_eq!(html.matches("<tr class=\"ok\">").count(), 3000);
    assert!(html.len() < 1_000_000, "{} bytes", html.len());
}
