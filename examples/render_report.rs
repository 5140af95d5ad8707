//! Renders a report page from saved `--json` documents, without a database:
//! for a look at the templates, and for the workload screenshot in docs/.
//!
//! cargo run --example render_report -- OUT.html [--health F] [--inspect F] [--verify F] [--workload F]

use godwit::report::html::{Dossier, write};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = args.next().ok_or("usage: render_report OUT.html [--SECTION FILE]...")?;
    let mut page = Dossier::new("godwit report", "saved documents");
    while let Some(flag) = args.next() {
        let file = args.next().ok_or("each --SECTION takes a file")?;
        let document: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file)?)?;
        match flag.as_str() {
            "--health" => page.health = Some(document),
            "--inspect" => page.inspect = Some(document),
            "--verify" => page.verify = Some(document),
            "--workload" => {
                page.title = "godwit workload".into();
                page.workload = Some(document);
            }
            other => return Err(format!("unknown section {other}").into()),
        }
    }
    write(&page, std::path::Path::new(&out))?;
    Ok(())
}
