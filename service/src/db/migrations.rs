//! The schema migrations, embedded in the binary: what `sqlx::migrate!` would embed (version 1,
//! "user content", the file's text and its SHA-384), built here instead so that the build
//! needs no sqlx macros. Those compile a second sqlx, PostgreSQL and SQLite driver and SQLite
//! itself for the host, the largest repeated part of a fresh build.

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};

/// One simple migration per backend so far; a new one is a new `Migration` in the list, its
/// version and description as `NNNN_words_with_underscores.sql` names them.
fn migrator(sql: &'static str) -> Migrator {
    let first = Migration::new(1, Cow::Borrowed("user content"), MigrationType::Simple, Cow::Borrowed(sql), false);
    Migrator { migrations: Cow::Owned(vec![first]), ..Migrator::DEFAULT }
}

pub fn sqlite() -> Migrator {
    migrator(include_str!("../../migrations/sqlite/0001_user_content.sql"))
}

pub fn postgres() -> Migrator {
    migrator(include_str!("../../migrations/postgres/0001_user_content.sql"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The list must follow the directories: a migration file added without its entry here
    /// would never run.
    #[test]
    fn every_migration_file_is_embedded() {
        for (dir, migrator) in [("sqlite", sqlite()), ("postgres", postgres())] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(dir);
            let mut files: Vec<String> = std::fs::read_dir(&path)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".sql"))
                .collect();
            files.sort();
            let embedded: Vec<String> =
                migrator.iter().map(|m| format!("{:04}_{}.sql", m.version, m.description.replace(' ', "_"))).collect();
            assert_eq!(files, embedded, "{dir}");
            for m in migrator.iter() {
                let text = std::fs::read_to_string(path.join(format!(
                    "{:04}_{}.sql",
                    m.version,
                    m.description.replace(' ', "_")
                )))
                .unwrap();
                assert_eq!(m.sql, text, "{dir}");
            }
        }
    }
}
