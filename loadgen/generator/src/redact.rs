//! Secrets out of reports: a profile or URL may carry a password (`postgres://u:secret@db/x`,
//! `redis://:secret@cache`, `?password=secret`), and reports get shared, attached to CI runs
//! and committed as baselines. Everything a run writes that quotes a profile, a scenario or a
//! URL goes through [`secrets`] first: the password becomes `***`, the rest stays readable.

/// `text` with the password of every `scheme://user:password@host` and the value of every
/// `password=` / `passwd=` / `pwd=` URL parameter replaced by `***`.
pub fn secrets(text: &str) -> String {
    redact_query_passwords(&redact_userinfo(text))
}

fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        // The authority ends at the first character a URL authority cannot hold unescaped.
        let end = after
            .find(|c: char| matches!(c, '/' | '?' | '#' | '"' | '\'' | '<' | '>' | '`') || c.is_whitespace())
            .unwrap_or(after.len());
        let authority = &after[..end];
        match authority.rfind('@').and_then(|a| authority[..a].find(':').map(|c| (c, a))) {
            Some((colon, at)) if at > colon + 1 => {
                out.push_str(&authority[..=colon]);
                out.push_str("***");
                out.push_str(&authority[at..]);
            }
            _ => out.push_str(authority),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

fn redact_query_passwords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'scan: while !rest.is_empty() {
        for key in ["password=", "passwd=", "pwd="] {
            let Some(i) = rest.find(key) else { continue };
            // Only as a URL parameter (after `?` or `&`), not any `password=` in prose.
            let preceded = rest[..i].ends_with(['?', '&']) || rest[..i].ends_with("&amp;");
            if !preceded {
                continue;
            }
            let value_at = i + key.len();
            let end = rest[value_at..]
                .find(|c: char| matches!(c, '&' | '#' | '"' | '\'' | '<' | '>') || c.is_whitespace())
                .map_or(rest.len(), |e| value_at + e);
            out.push_str(&rest[..value_at]);
            out.push_str("***");
            rest = &rest[end..];
            continue 'scan;
        }
        out.push_str(rest);
        break;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::secrets;

    #[test]
    fn passwords_in_urls_are_replaced() {
        assert_eq!(secrets("postgres://u:secret@db:5432/x"), "postgres://u:***@db:5432/x");
        assert_eq!(secrets("redis://:secret@127.0.0.1:6379/0"), "redis://:***@127.0.0.1:6379/0");
        assert_eq!(
            secrets("primary_url = \"postgres://app:p%40ss@10.0.0.1/db\"\nreplica_urls = [\"postgres://r:two@r1/db\"]"),
            "primary_url = \"postgres://app:***@10.0.0.1/db\"\nreplica_urls = [\"postgres://r:***@r1/db\"]"
        );
        assert_eq!(
            secrets("postgres://h/db?user=u&password=secret&sslmode=require"),
            "postgres://h/db?user=u&password=***&sslmode=require"
        );
        assert_eq!(secrets("{\"url\":\"http://a:b@host:80/x\"}"), "{\"url\":\"http://a:***@host:80/x\"}");
    }

    #[test]
    fn everything_else_is_left_alone() {
        for text in [
            "postgres://postgres@127.0.0.1:5432/test",
            "http://127.0.0.1:8080/api/v1/content",
            "a password=prose line",
            "time 12:30 at home",
            "mailto:someone@example.com",
            "",
        ] {
            assert_eq!(secrets(text), text);
        }
    }
}
