//! A stopped torrent's data on disk: deleting it, moving it to another
//! download directory. Only the torrent's own files (and the folders of
//! a multi-file torrent left empty) are touched, and never through a
//! symbolic link: a path with a symlink on the way is left alone.

use std::io;
use std::path::{Path, PathBuf};

use shoal_metainfo::Torrent;

use crate::resume;

/// The path of every file of `torrent` under `dir` (padding files
/// excluded), relative to `dir`.
fn relative_paths(torrent: &Torrent) -> Vec<PathBuf> {
    let base = if torrent.layout.multi_file {
        PathBuf::from(&torrent.name)
    } else {
        PathBuf::new()
    };
    torrent
        .layout
        .files
        .iter()
        .filter(|f| !f.is_padding())
        .map(|f| base.join(f.relative_path()))
        .collect()
}

/// Whether `rel` under `dir` goes through no symlink (the last component
/// may not be one either) and stays below `dir`.
fn plain_path(dir: &Path, rel: &Path) -> bool {
    let mut p = dir.to_path_buf();
    for c in rel.components() {
        match c {
            std::path::Component::Normal(c) => p.push(c),
            _ => return false,
        }
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => return false,
            Ok(_) => {}
            Err(_) => return true,
        }
    }
    true
}

/// The folders of `rel` paths below `dir`, deepest first.
fn folders(rels: &[PathBuf]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for r in rels {
        let mut p = r.parent();
        while let Some(d) = p {
            if d.as_os_str().is_empty() {
                break;
            }
            if !out.iter().any(|o| o == d) {
                out.push(d.to_path_buf());
            }
            p = d.parent();
        }
    }
    out.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    out
}

/// Delete the torrent's files under `dir`, the folders they leave empty
/// and its resume file. Missing files are fine.
pub(super) fn delete(torrent: &Torrent, dir: &Path) -> io::Result<()> {
    let rels = relative_paths(torrent);
    for rel in &rels {
        if !plain_path(dir, rel) {
            continue;
        }
        match std::fs::remove_file(dir.join(rel)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    for d in folders(&rels) {
        if plain_path(dir, &d) {
            // Only empty folders go; others hold files of someone else.
            let _ = std::fs::remove_dir(dir.join(d));
        }
    }
    let _ = std::fs::remove_file(resume::resume_path(dir, &torrent.info_hash));
    Ok(())
}

/// Move the torrent's files (and its resume file, so nothing is hashed
/// again) from `from` to `to`: renamed when on one file system, else
/// copied and then deleted.
pub(super) fn relocate(torrent: &Torrent, from: &Path, to: &Path) -> io::Result<()> {
    std::fs::create_dir_all(to)?;
    let rels = relative_paths(torrent);
    for rel in &rels {
        let src = from.join(rel);
        if !plain_path(from, rel) || !plain_path(to, rel) {
            return Err(io::Error::other(format!(
                "{} goes through a symbolic link",
                rel.display()
            )));
        }
        if std::fs::symlink_metadata(&src).is_err() {
            continue;
        }
        let dst = to.join(rel);
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent)?;
        }
        move_file(&src, &dst)?;
    }
    for d in folders(&rels) {
        if plain_path(from, &d) {
            let _ = std::fs::remove_dir(from.join(d));
        }
    }
    let src = resume::resume_path(from, &torrent.info_hash);
    if src.exists() {
        let dst = resume::resume_path(to, &torrent.info_hash);
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent)?;
        }
        // A stale resume file only costs a recheck.
        let _ = move_file(&src, &dst);
    }
    Ok(())
}

/// Rename, or copy then delete across file systems (keeping the
/// modification time, which the resume data records).
fn move_file(src: &Path, dst: &Path) -> io::Result<()> {
    match std::fs::rename(src, dst) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc_exdev()) => {
            std::fs::copy(src, dst)?;
            let mtime = std::fs::metadata(src)?.modified()?;
            std::fs::File::options()
                .write(true)
                .open(dst)?
                .set_modified(mtime)?;
            std::fs::remove_file(src)
        }
        Err(e) => Err(e),
    }
}

/// `EXDEV`: a rename across file systems.
fn libc_exdev() -> i32 {
    rustix::io::Errno::XDEV.raw_os_error()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_deepest_first() {
        let f = folders(&[
            PathBuf::from("t/a/b/x"),
            PathBuf::from("t/a/y"),
            PathBuf::from("t/z"),
        ]);
        assert_eq!(
            f,
            [
                PathBuf::from("t/a/b"),
                PathBuf::from("t/a"),
                PathBuf::from("t")
            ]
        );
    }

    #[test]
    fn paths_through_symlinks_are_not_plain() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("real")).unwrap();
        std::os::unix::fs::symlink("/tmp", d.path().join("link")).unwrap();
        assert!(plain_path(d.path(), Path::new("real/file")));
        assert!(plain_path(d.path(), Path::new("missing/file")));
        assert!(!plain_path(d.path(), Path::new("link/file")));
        assert!(!plain_path(d.path(), Path::new("../x")));
    }
}
