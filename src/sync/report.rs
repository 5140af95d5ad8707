//! sync's and cutover's results as report/ renders them.

use crate::report::{Summary, json_of};
use crate::sync::RoundSummary;
use crate::sync::cutover::CutoverSummary;

impl Summary for RoundSummary {
    fn human(&self) -> String {
        RoundSummary::human(self)
    }

    fn to_json(&self, pretty: bool) -> String {
        json_of(self, pretty)
    }
}

impl Summary for CutoverSummary {
    fn human(&self) -> String {
        CutoverSummary::human(self)
    }

    fn to_json(&self, pretty: bool) -> String {
        json_of(self, pretty)
    }
}
