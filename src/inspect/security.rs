//! The security rules of [`crate::health::security`] as findings: one per
//! offending object, with the statement or configuration line that fixes
//! it. A rule the role may not run becomes a note naming the privilege.

use postgres::Client;

use super::{Finding, InspectReport};
use crate::health::security::{RULES, offenders};

pub fn findings(client: &mut Client, report: &mut InspectReport) {
    for rule in RULES {
        match crate::postgres::pooler::tolerate(client, |c| offenders(c, rule)) {
            Ok(found) => report.findings.extend(found.into_iter().map(|o| Finding {
                kind: "security".into(),
                object: o.object,
                evidence: format!(
                    "{}; wanted: {} [{}: {}]",
                    o.evidence, rule.help, rule.name, rule.reference
                ),
                suggestion: o.fix,
                method: None,
            })),
            Err(why) => report
                .notes
                .push(format!("security {} [{}]: {why}", rule.name, rule.reference)),
        }
    }
}
