//! How the tools create and reopen the files they write (exports, checkpoints, plans, the
//! idempotency store) so that a symlink planted at one of their paths is never followed,
//! and a crash at any instant leaves either no file or a whole one.
//!
//! - A new file is created with `O_CREAT | O_EXCL` ([`create_new`]): it fails on anything
//!   already at the path, a dangling symlink included, instead of writing through it.
//! - An existing file is reopened with `O_NOFOLLOW` ([`open_existing`]): a symlink is
//!   refused, never followed.
//! - A file that must appear whole ([`write_atomically`], [`create_atomically`]) is written
//!   under a fresh temporary name beside it, flushed to disk, then renamed (or linked) into
//!   place: a reader, or a process started after a crash, sees the old file or the new one.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Creates `path`, which must not exist (nor be a symlink, even a dangling one).
pub fn create_new(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// Opens the existing file at `path` for reading and writing; a symlink is refused.
pub fn open_existing(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| refused_link(path, e))
}

/// `ELOOP` from `O_NOFOLLOW` says little; say what it means.
fn refused_link(path: &Path, e: io::Error) -> io::Error {
    if e.raw_os_error() == Some(libc::ELOOP) {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is a symbolic link; creditgate does not write through links",
                path.display()
            ),
        )
    } else {
        e
    }
}

/// A fresh name beside `path` for a temporary file (never one a crash left behind).
fn temporary_beside(path: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(format!(
        ".{}-{nanos}-{}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    path.with_file_name(name)
}

/// Writes `bytes` to `path` whole: a new temporary file, flushed, renamed over `path`
/// (which replaces a symlink there rather than writing through it).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temp = temporary_beside(path);
    let written = (|| {
        let mut file = create_new(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

/// Creates `path` (which must not exist) whole: `build` fills a new temporary file beside
/// it, which is flushed and then linked to `path` (failing if anything appeared there
/// meanwhile). Returns the file, open, at `path`.
pub fn create_atomically(path: &Path, build: impl FnOnce(&File) -> io::Result<()>) -> io::Result<File> {
    let temp = temporary_beside(path);
    let created = (|| {
        let file = create_new(&temp)?;
        build(&file)?;
        file.sync_all()?;
        std::fs::hard_link(&temp, path)?;
        Ok(file)
    })();
    let _ = std::fs::remove_file(&temp);
    created
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("creditgate-files-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn links_are_never_followed_dangling_or_not() {
        let d = dir("links");
        let victim = d.join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::os::unix::fs::symlink(&victim, d.join("link")).unwrap();
        std::os::unix::fs::symlink(d.join("nowhere"), d.join("dangling")).unwrap();
        assert!(create_new(&d.join("link")).is_err());
        assert!(create_new(&d.join("dangling")).is_err());
        assert!(!d.join("nowhere").exists());
        let refused = open_existing(&d.join("link")).unwrap_err();
        assert!(refused.to_string().contains("symbolic link"), "{refused}");
        assert!(create_atomically(&d.join("dangling"), |_| Ok(())).is_err());
        // An atomic write replaces the link itself.
        write_atomically(&d.join("link"), b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(std::fs::read_to_string(d.join("link")).unwrap(), "new");
        assert!(!std::fs::symlink_metadata(d.join("link")).unwrap().is_symlink());
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 3, "{names:?}");
    }

    #[test]
    fn a_failed_build_leaves_no_file() {
        let d = dir("build");
        let target = d.join("store");
        let failed = create_atomically(&target, |_| Err(io::Error::other("killed")));
        assert!(failed.is_err());
        assert!(!target.exists());
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0);
        create_atomically(&target, |mut f| f.write_all(b"whole")).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "whole");
    }
}
