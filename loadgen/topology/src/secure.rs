//! What keeps a launched stage private to the user who launched it: run directories created
//! fresh with mode 0700 (never a path that already existed — a directory or symlink planted
//! there by someone else would let them read the stage's passwords or redirect its writes),
//! files holding passwords created new with mode 0600, and per-run random passwords.

use std::{
    fs,
    io::Write,
    os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use rand::{distr::Alphanumeric, Rng};

use super::{process::RunAs, TopologyError};

/// Length of generated passwords: 32 characters of [A-Za-z0-9] are 190 bits, and need no
/// escaping in a URL, a libpq conninfo or a Redis config line.
const PASSWORD_LEN: usize = 32;

/// A password. Its `Debug` never shows it: deployments and settings get logged with `{:?}`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A new random password from the operating system's CSPRNG (through `rand`'s thread RNG,
    /// which is seeded from it and reseeds itself).
    pub fn generate() -> Self {
        Self(rand::rng().sample_iter(Alphanumeric).take(PASSWORD_LEN).map(char::from).collect())
    }

    /// The password itself, for the URL or config file that must carry it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Creates `path` as a new directory with mode 0700 (its parents as needed); refuses when
/// anything — a directory, a file, a symlink — is already there.
pub fn create_fresh_dir(path: &Path) -> Result<(), TopologyError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| TopologyError::io(format!("creating {}", parent.display()), e))?;
    }
    // mkdir(2) fails with EEXIST on any existing entry, a dangling symlink included, and does
    // not follow a symlink in the last component: no check-then-create race.
    match fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(TopologyError::RunDirExists { path: path.to_owned() })
        }
        Err(e) => return Err(TopologyError::io(format!("creating {}", path.display()), e)),
    }
    // The umask can only have taken bits away; set the mode we mean exactly.
    fs::set_permissions(path, fs::Permissions::from_mode(0o700))
        .map_err(|e| TopologyError::io(format!("restricting {}", path.display()), e))
}

/// A new 0700 directory with an unpredictable name (`<prefix>XXXXXX`) in the system's
/// temporary directory, kept until the caller removes it.
pub fn fresh_temp_dir(prefix: &str) -> Result<PathBuf, TopologyError> {
    tempfile::Builder::new()
        .prefix(prefix)
        .permissions(fs::Permissions::from_mode(0o700))
        .tempdir()
        .map(tempfile::TempDir::keep)
        .map_err(|e| {
            TopologyError::io(format!("creating a {prefix}* directory in {}", std::env::temp_dir().display()), e)
        })
}

/// Gives `path` to `owner` (the postgres user, for the directory its clusters live in).
pub fn chown(path: &Path, owner: Option<RunAs>) -> Result<(), TopologyError> {
    match owner {
        Some(who) => std::os::unix::fs::chown(path, Some(who.uid), Some(who.gid))
            .map_err(|e| TopologyError::io(format!("giving {} to uid {}", path.display(), who.uid), e)),
        None => Ok(()),
    }
}

/// Writes `text` to a new file `path` with mode 0600, owned by `owner` when given; refuses an
/// existing file or symlink.
pub fn write_secret_file(path: &Path, text: &str, owner: Option<RunAs>) -> Result<(), TopologyError> {
    let io = |e| TopologyError::io(format!("writing {}", path.display()), e);
    let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(io)?;
    if let Some(who) = owner {
        std::os::unix::fs::fchown(&f, Some(who.uid), Some(who.gid)).map_err(io)?;
    }
    f.write_all(text.as_bytes()).map_err(io)
}

/// Replaces (or creates) `path` with `text`, mode 0600: the instance profiles, which carry
/// the servers' passwords. Written to a new file and renamed over, so a file or symlink
/// found at `path` is replaced, never written through.
pub fn replace_secret_file(path: &Path, text: &str) -> Result<(), TopologyError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .permissions(fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(|e| TopologyError::io(format!("creating a file in {}", dir.display()), e))?;
    tmp.write_all(text.as_bytes()).map_err(|e| TopologyError::io(format!("writing {}", path.display()), e))?;
    tmp.persist(path).map(drop).map_err(|e| TopologyError::io(format!("writing {}", path.display()), e.error))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn passwords_are_long_random_and_never_debug_printed() {
        let (a, b) = (Secret::generate(), Secret::generate());
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), PASSWORD_LEN);
        assert!(a.expose().chars().all(|c| c.is_ascii_alphanumeric()), "{}", a.expose());
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn fresh_dirs_are_private_and_never_an_existing_path() {
        let base = tempfile::tempdir().unwrap();
        let run = base.path().join("a/b/run");
        create_fresh_dir(&run).unwrap();
        assert_eq!(fs::metadata(&run).unwrap().mode() & 0o7777, 0o700);
        assert!(matches!(create_fresh_dir(&run), Err(TopologyError::RunDirExists { .. })));
        // A symlink planted at the path, dangling or not, is refused and left as it is.
        let target = base.path().join("elsewhere");
        let link = base.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = create_fresh_dir(&link).unwrap_err();
        assert!(e.to_string().contains(&link.display().to_string()), "{e}");
        assert!(!target.exists() && fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        let temp = fresh_temp_dir("scaleloop-test-").unwrap();
        assert_eq!(fs::metadata(&temp).unwrap().mode() & 0o7777, 0o700);
        fs::remove_dir(temp).unwrap();
    }

    #[test]
    fn secret_files_are_0600_and_new() {
        let base = tempfile::tempdir().unwrap();
        let f = base.path().join("pw");
        write_secret_file(&f, "x", None).unwrap();
        assert_eq!(fs::metadata(&f).unwrap().mode() & 0o777, 0o600);
        assert!(write_secret_file(&f, "y", None).is_err(), "an existing file is not written through");
        let link = base.path().join("profile.toml");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        replace_secret_file(&link, "secret = 1\n").unwrap();
        assert_eq!(fs::read_to_string(&f).unwrap(), "x", "the symlink's target is untouched");
        assert_eq!(fs::metadata(&link).unwrap().mode() & 0o777, 0o600);
        assert_eq!(fs::read_to_string(&link).unwrap(), "secret = 1\n");
    }
}
