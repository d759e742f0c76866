//! BEP 47 file attributes on disk: symlink entries (`l`) and the
//! executable bit (`x`). Padding files (`p`) are handled where data is
//! read and written: they are never created, and read as zeros.
//!
//! * A symlink is created only when the metainfo layer found its target
//!   inside the torrent's directory ([`shoal_metainfo::FileEntry::symlink_target`]);
//!   one pointing outside is skipped with a warning. A link whose path is
//!   also the parent folder of another entry is skipped too: storage never
//!   walks through a symlink, so it would stop that entry from being
//!   written.
//! * `x` gives the file's readers the execute permission when it is
//!   created for writing.
//! * `h` (hidden) has no meaning on Unix file systems (hidden files are
//!   those whose name starts with a dot, and the name is the torrent's):
//!   it is ignored here.

use super::files::FileSet;
use shoal_metainfo::Layout;
use std::fs::File;
use std::io;
use std::os::unix::fs::PermissionsExt;
use tracing::warn;

/// Add the execute bit wherever the read bit is set (`rw-r--r--` becomes
/// `rwxr-xr-x`).
pub(crate) fn make_executable(file: &File) -> io::Result<()> {
    let mut perm = file.metadata()?.permissions();
    let mode = perm.mode();
    let want = mode | ((mode & 0o444) >> 2);
    if want != mode {
        perm.set_mode(want);
        file.set_permissions(perm)?;
    }
    Ok(())
}

/// Create the torrent's symlink entries that are safe to create; warn about
/// and skip the others. Failures to create one are warnings too: a link is
/// no data, and the download goes on without it.
pub(crate) fn create_symlinks(files: &FileSet, layout: &Layout) {
    for (i, f) in layout.files.iter().enumerate() {
        if !f.attr.symlink {
            continue;
        }
        let Some(target) = f.symlink_relative_target() else {
            warn!(path = %f.display_path(), "symlink points outside the torrent: not created");
            continue;
        };
        let shadows = layout
            .files
            .iter()
            .any(|o| o.path.len() > f.path.len() && o.path.starts_with(&f.path));
        if shadows {
            warn!(path = %f.display_path(), "symlink is also a folder of the torrent: not created");
            continue;
        }
        if let Err(e) = files.create_symlink(i, &target) {
            warn!(path = %f.display_path(), error = %e, "could not create symlink");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Storage, StorageConfig, WriteOutcome};
    use sha1::{Digest, Sha1};
    use shoal_metainfo::{
        CreateProgress, FileAttr, FileEntry, InfoHash, Layout, MetaVersion, Torrent,
    };
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Arc;

    fn entry(path: &[&str], length: u64, attr: FileAttr) -> FileEntry {
        let mut e = FileEntry::plain(path.iter().map(|s| s.to_string()).collect(), length, 0);
        e.attr = attr;
        e
    }

    /// `x` file, padding, a plain file, a symlink inside, one outside.
    fn torrent() -> (Torrent, Vec<u8>) {
        let mut link = entry(
            &["link"],
            0,
            FileAttr {
                symlink: true,
                ..FileAttr::default()
            },
        );
        link.symlink_target = Some(vec!["sub".into(), "b".into()]);
        let outside = entry(
            &["escape"],
            0,
            FileAttr {
                symlink: true,
                ..FileAttr::default()
            },
        );
        let files = vec![
            entry(
                &["a"],
                20_000,
                FileAttr {
                    executable: true,
                    hidden: true,
                    ..FileAttr::default()
                },
            ),
            entry(
                &[".pad", "1"],
                12_768,
                FileAttr {
                    padding: true,
                    ..FileAttr::default()
                },
            ),
            entry(&["sub", "b"], 100, FileAttr::default()),
            link,
            outside,
        ];
        let layout = Layout::from_entries(16_384, files, true, MetaVersion::V1).unwrap();
        let mut stream = vec![0u8; layout.total_length as usize];
        for (i, b) in stream[..20_000].iter_mut().enumerate() {
            *b = (i % 251) as u8 + 1;
        }
        for b in &mut stream[32_768..] {
            *b = 9;
        }
        let piece_hashes = (0..layout.piece_count)
            .map(|p| {
                let at = layout.piece_offset(p) as usize;
                Sha1::digest(&stream[at..at + layout.piece_size(p) as usize]).into()
            })
            .collect();
        let t = Torrent {
            info_hash: InfoHash([4; 20]),
            info_bytes: Vec::new(),
            name: "t".into(),
            layout,
            piece_hashes,
            private: false,
            source: None,
            trackers: Vec::new(),
            web_seeds: Vec::new(),
            comment: None,
            created_by: None,
            creation_date: None,
        };
        (t, stream)
    }

    #[test]
    fn padding_is_never_on_disk_links_stay_inside_and_x_is_applied() {
        let dir = tempfile::tempdir().unwrap();
        let (t, stream) = torrent();
        let t = Arc::new(t);
        let s = Storage::open(t.clone(), dir.path(), StorageConfig::default()).unwrap();
        let l = &t.layout;
        let mut verified = 0;
        for p in 0..l.piece_count {
            let at = l.piece_offset(p) as usize;
            let data = &stream[at..at + l.piece_size(p) as usize];
            if s.write_block(p, 0, data).unwrap() == WriteOutcome::Verified {
                verified += 1;
            }
        }
        assert_eq!(verified, l.piece_count);
        let base = dir.path().join("t");
        assert!(!base.join(".pad").exists(), "padding created on disk");
        assert_eq!(std::fs::read(base.join("sub/b")).unwrap(), vec![9u8; 100]);
        let mode = std::fs::metadata(base.join("a"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o100, 0o100, "x not applied: {mode:o}");
        let link = std::fs::symlink_metadata(base.join("link")).unwrap();
        assert!(link.file_type().is_symlink());
        assert_eq!(
            std::fs::read_link(base.join("link")).unwrap(),
            std::path::Path::new("sub/b")
        );
        assert_eq!(std::fs::read(base.join("link")).unwrap(), vec![9u8; 100]);
        assert!(std::fs::symlink_metadata(base.join("escape")).is_err());
        // Uploading reads padding back as zeros; a fresh check finds every
        // piece (padding counted as zeros, without a file).
        let second = s.read_block(1, 0, 16_384).unwrap();
        assert_eq!(&second[..], &stream[16_384..32_768]);
        drop(s);
        let pieces = l.piece_count as usize;
        let again = Storage::open(t.clone(), dir.path(), StorageConfig::default()).unwrap();
        let report = again.check(&CreateProgress::default()).unwrap();
        assert_eq!(report.verified_pieces, pieces);
    }
}
