//! The security rules of [`crate::health::registry`] as findings: one per
//! offending object, with the statement or configuration line that fixes
//! it. A rule the role may not run becomes a note naming the privilege.

use postgres::Client;

use super::registry::Scan;
use super::{Finding, InspectReport};
use crate::error::Result;
use crate::health::registry::{CHECKS, Probe};
use crate::health::security::offenders;

pub fn findings(client: &mut Client, _: &Scan, report: &mut InspectReport) -> Result<()> {
    for check in CHECKS {
        let Probe::Rule(rule) = check.probe else {
            continue;
        };
        match offenders(client, rule) {
            Ok(found) => report.findings.extend(found.into_iter().map(|o| Finding {
                kind: "security".into(),
                object: o.object,
                evidence: format!(
                    "{}; wanted: {} [{}: {}]",
                    o.evidence, check.help, check.name, rule.reference
                ),
                suggestion: o.fix,
                method: None,
            })),
            Err(why) => report
                .notes
                .push(format!("security {} [{}]: {why}", check.name, rule.reference)),
        }
    }
    Ok(())
}
