//! Maps a server named in the profile to its process on this machine, so its box's CPU is that
//! server's and nobody else's (the machine may run other PostgreSQL clusters or Redis
//! instances): Redis reports its `process_id` in `INFO server`; a PostgreSQL backend's parent
//! is the postmaster, whose process tree is the whole cluster. Servers that are not on a
//! loopback address are not on this machine and have no local process.

use sqlx::{postgres::PgConnection, Connection, Row};

/// Whether a URL's host is this machine.
pub fn is_loopback(url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else { return false };
    match parsed.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        // Non-special schemes (redis://, postgres://) leave IP literals as opaque host names.
        Some(url::Host::Domain(d)) => {
            d == "localhost" || d.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        None => false,
    }
}

/// The pid of the Redis server at `url`.
pub async fn redis_pid(url: &str) -> Option<u32> {
    if !is_loopback(url) {
        return None;
    }
    let client = redis::Client::open(url).ok()?;
    let mut conn = client.get_multiplexed_async_connection().await.ok()?;
    let text: String = redis::cmd("INFO").arg("server").query_async(&mut conn).await.ok()?;
    let pid = super::redis::parse_info(&text).get("process_id").copied()?;
    Some(pid as u32)
}

/// The pid of the postmaster of the PostgreSQL cluster at `url`.
pub async fn postgres_pid(url: &str) -> Option<u32> {
    if !is_loopback(url) {
        return None;
    }
    let mut conn = PgConnection::connect(url).await.ok()?;
    let backend: i32 = sqlx::query("SELECT pg_backend_pid()").fetch_one(&mut conn).await.ok()?.try_get(0).ok()?;
    let _ = conn.close().await;
    parent_pid(u32::try_from(backend).ok()?)
}

/// The parent of `pid`, from `/proc/<pid>/stat` (field 4, after the parenthesised name).
pub fn parent_pid(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_parent(&stat)
}

fn parse_parent(stat: &str) -> Option<u32> {
    // The name may contain spaces and parentheses: the fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_urls() {
        assert!(super::is_loopback("redis://127.0.0.1:6379"));
        assert!(super::is_loopback("postgres://postgres@localhost:5432/test"));
        assert!(super::is_loopback("redis://[::1]:6379/0"));
        assert!(!super::is_loopback("postgres://db.example.com/test"));
        assert!(!super::is_loopback("not a url"));
    }

    #[test]
    fn parent_from_stat() {
        assert_eq!(super::parse_parent("1234 (postgres: a (b) c) S 77 1234 1234 0"), Some(77));
        assert_eq!(super::parent_pid(std::process::id()), Some(std::os::unix::process::parent_id()));
    }
}
