//! Target spelling of names. Exact by default, because apps and ORMs query
//! by the names they created; `--identifiers lower|snake` normalises.
//! PostgreSQL silently cuts names at 63 bytes, so longer names and the
//! collisions normalising would cause are errors raised before any work.

/// How table and column names are spelled in PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdentifierStyle {
    /// Keep the exact spelling and case, quoted where needed.
    #[default]
    Exact,
    /// Lower-case every name.
    Lower,
    /// Lower snake_case: CamelCase becomes camel_case.
    Snake,
}

pub const MAX_IDENTIFIER_BYTES: usize = 63;

pub fn styled(name: &str, style: IdentifierStyle) -> String {
    match style {
        IdentifierStyle::Exact => name.to_string(),
        IdentifierStyle::Lower => name.to_lowercase(),
        IdentifierStyle::Snake => snake_case(name),
    }
}

/// `CamelCase` → `camel_case`, `HTTPServer` → `http_server`, spaces and
/// dashes → `_`.
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' || c == '-' {
            if !out.ends_with('_') {
                out.push('_');
            }
            continue;
        }
        if c.is_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if (prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower))
                && !out.ends_with('_')
            {
                out.push('_');
            }
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// Checks a set of target names (one namespace) for length and collisions.
/// Returns a message per problem.
pub fn check(kind: &str, names: &[(String, String)]) -> Vec<String> {
    let mut problems = Vec::new();
    for (source, target) in names {
        if target.len() > MAX_IDENTIFIER_BYTES {
            problems.push(format!(
                "{kind} {source:?} becomes {:?}, {} bytes: PostgreSQL keeps only {MAX_IDENTIFIER_BYTES}; \
                 rename it in godwit.toml",
                target,
                target.len()
            ));
        }
    }
    for (i, (source_a, target_a)) in names.iter().enumerate() {
        for (source_b, target_b) in &names[i + 1..] {
            let cut = |s: &str| truncate_bytes(s, MAX_IDENTIFIER_BYTES).to_string();
            if cut(target_a) == cut(target_b) {
                problems.push(format!(
                    "{kind}s {source_a:?} and {source_b:?} would both be named {:?} in PostgreSQL; rename one in godwit.toml",
                    cut(target_a)
                ));
            }
        }
    }
    problems
}

fn truncate_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_rules() {
        assert_eq!(snake_case("InvoiceLine"), "invoice_line");
        assert_eq!(snake_case("HTTPServer"), "http_server");
        assert_eq!(snake_case("userId"), "user_id");
        assert_eq!(snake_case("already_snake"), "already_snake");
        assert_eq!(snake_case("Unit Price"), "unit_price");
    }

    #[test]
    fn finds_long_names_and_collisions() {
        let a = "col_very_long_name_that_exceeds_postgresql_identifier_limit_aaax".to_string();
        let b = "col_very_long_name_that_exceeds_postgresql_identifier_limit_aaay".to_string();
        let problems = check("column", &[(a.clone(), a), (b.clone(), b)]);
        assert_eq!(problems.len(), 3, "{problems:?}");
        let lower = check(
            "table",
            &[("Users".into(), "users".into()), ("users".into(), "users".into())],
        );
        assert_eq!(lower.len(), 1);
    }
}
