//! Durable writes of a local object: write a temporary file, fsync it, rename it into place,
//! fsync the directory. Only then is the put reported done (and the write acknowledged).
//!
//! Why each step: the rename makes the object appear whole or not at all after a crash; the
//! file's fsync makes its bytes reach the disk before the name points at them (otherwise a
//! power loss can leave a named, empty or torn file); the directory's fsync makes the new name
//! itself durable (otherwise the entry may vanish on power loss although the data was synced).
//! `object_store`'s local backend does the temp-and-rename but neither fsync.

use std::{
    fs::{File, OpenOptions},
    io::{self, Write},
    path::{Path, PathBuf},
    sync::Arc,
};

/// One step of a durable put, as reported to a [`SyncObserver`] right after it succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncEvent {
    /// The temporary file's contents were fsynced.
    FileSynced(PathBuf),
    /// The temporary file was renamed to its final name.
    Renamed(PathBuf),
    /// The directory holding the final name was fsynced.
    DirSynced(PathBuf),
}

/// Sees every step of every durable put (tests count them; production has none).
pub type SyncObserver = Arc<dyn Fn(&SyncEvent) + Send + Sync>;

/// Writes `bytes` to `dest` durably (see the module header). `dest`'s directory must exist and
/// be durable itself (the store creates and syncs it once when it opens).
pub fn write(dest: &Path, bytes: &[u8], observer: Option<&SyncObserver>) -> io::Result<()> {
    let notify = |event: SyncEvent| {
        if let Some(observe) = observer {
            observe(&event);
        }
    };
    let dir = dest.parent().ok_or_else(|| io::Error::other(format!("{} has no directory", dest.display())))?;
    let name = dest.file_name().ok_or_else(|| io::Error::other(format!("{} has no file name", dest.display())))?;
    // Dot-prefixed and in the same directory: the rename stays within one file system.
    let tmp = dir.join(format!(".{}.tmp", name.to_string_lossy()));
    let written = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        notify(SyncEvent::FileSynced(tmp.clone()));
        std::fs::rename(&tmp, dest)?;
        notify(SyncEvent::Renamed(dest.to_owned()));
        Ok(())
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(dir)?;
    notify(SyncEvent::DirSynced(dir.to_owned()));
    Ok(())
}

/// Creates `dir` (and its parents) and fsyncs every directory whose entry was added, so the
/// directory itself survives power loss before any object is written into it.
pub fn create_dir_durably(dir: &Path) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut at = Some(dir);
    while let Some(p) = at {
        if p.exists() {
            break;
        }
        missing.push(p);
        at = p.parent();
    }
    std::fs::create_dir_all(dir)?;
    for created in missing.iter().rev() {
        if let Some(parent) = created.parent() {
            sync_dir(if parent.as_os_str().is_empty() { Path::new(".") } else { parent })?;
        }
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    // On Linux a directory opened read-only can be fsynced; that persists its entries.
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn recorder() -> (SyncObserver, Arc<Mutex<Vec<SyncEvent>>>) {
        let events: Arc<Mutex<Vec<SyncEvent>>> = Arc::default();
        let seen = events.clone();
        (Arc::new(move |e: &SyncEvent| seen.lock().unwrap().push(e.clone())), events)
    }

    #[test]
    fn file_is_synced_then_renamed_then_its_directory_synced() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("a.bin");
        let (observer, events) = recorder();
        write(&dest, b"payload", Some(&observer)).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"payload");
        let events = events.lock().unwrap().clone();
        assert_eq!(
            events,
            vec![
                SyncEvent::FileSynced(dir.path().join(".a.bin.tmp")),
                SyncEvent::Renamed(dest.clone()),
                SyncEvent::DirSynced(dir.path().to_owned()),
            ]
        );
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_failed_write_reports_no_sync_and_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let (observer, events) = recorder();
        let err = write(&dir.path().join("missing/a.bin"), b"x", Some(&observer)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(events.lock().unwrap().is_empty());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn directories_are_created_with_their_parents() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("x/y/content");
        create_dir_durably(&deep).unwrap();
        assert!(deep.is_dir());
        create_dir_durably(&deep).unwrap();
    }
}
