//! Safe file access below the download directory, and a bounded cache of
//! open file handles.
//!
//! # How nothing is ever written outside the download directory
//!
//! Metainfo parsing already rejects `..`, `.`, separators and NUL bytes in
//! file names; this module does not rely on that and checks every component
//! again ([`check_component`]). That stops a hostile *torrent*. A hostile or
//! careless *file system* — a symbolic link planted inside the download
//! directory, say `DIR/name -> /home/user` — is stopped by never resolving a
//! path as a whole:
//!
//! * The download directory itself is opened once (following symlinks: it is
//!   the user's own choice) and kept open as a directory descriptor.
//! * Every path below it is walked one component at a time with
//!   `openat(parent_fd, component, O_DIRECTORY | O_NOFOLLOW)`, creating
//!   missing directories with `mkdirat` when writing. A component that is a
//!   symlink fails to open (`ELOOP`/`ENOTDIR`), and is reported as
//!   [`StorageError::Symlink`].
//! * The file itself is opened with `openat(dir_fd, name, O_NOFOLLOW |
//!   O_NONBLOCK)`, then `fstat`ed: anything but a regular file (a FIFO, a
//!   device, a directory) is refused. `O_NONBLOCK` keeps a planted FIFO from
//!   hanging the open.
//!
//! Because every step is relative to a descriptor that was itself opened
//! without following links, there is no window between checking a path and
//! using it (unlike `symlink_metadata` followed by `open`): swapping a
//! directory for a symlink mid-way makes the next `openat` fail instead of
//! escaping. Symlinks are refused even when they point back inside the
//! download directory. Hard links are not refused: creating one requires
//! write access to the target, and the link's name is inside the directory.

use super::StorageError;
use crate::resume::FileState;
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;
use shoal_metainfo::Torrent;
use std::collections::HashMap;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tracing::{debug, warn};

/// Above this many dirty files, [`FileSet::sync_dirty`] syncs whole file
/// systems instead of files.
pub(crate) const SYNCFS_THRESHOLD: usize = 16;

/// Longest accepted path component in bytes.
const MAX_COMPONENT_LEN: usize = 255;

/// Check one path component again, whatever the metainfo parser did.
pub(crate) fn check_component(c: &str) -> Result<(), StorageError> {
    let bad = c.is_empty()
        || c == "."
        || c == ".."
        || c.len() > MAX_COMPONENT_LEN
        || c.bytes().any(|b| b == b'/' || b == b'\\' || b == 0);
    if bad {
        return Err(StorageError::UnsafePath {
            component: c.to_string(),
        });
    }
    Ok(())
}

/// Whether a file is opened for reading only or for writing too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Read only; never creates anything.
    Read,
    /// Read and write; creates missing directories and the file.
    Write,
}

/// An open directory: every lookup below it goes through [`Dir::child_dir`]
/// and [`Dir::open_file`], which never follow a symlink.
#[derive(Debug)]
pub(crate) struct Dir {
    fd: OwnedFd,
    /// For messages only; never used to open anything.
    path: PathBuf,
}

fn retry<T>(mut f: impl FnMut() -> rustix::io::Result<T>) -> rustix::io::Result<T> {
    loop {
        match f() {
            Err(Errno::INTR) => continue,
            r => return r,
        }
    }
}

impl Dir {
    /// Open (creating it and its parents if needed) the download directory.
    /// This one path is resolved normally, symlinks included: the user chose it.
    pub(crate) fn open_root(path: &Path) -> Result<Dir, StorageError> {
        std::fs::create_dir_all(path).map_err(|e| StorageError::io(path, e))?;
        let fd = retry(|| {
            rustix::fs::open(
                path,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
        })
        .map_err(|e| StorageError::io(path, e.into()))?;
        Ok(Dir {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// The path this directory was reached by (for messages).
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Tell a symlink from another non-directory after a failed open.
    fn classify(&self, name: &str, path: PathBuf, want_dir: bool) -> StorageError {
        match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
                StorageError::Symlink(path)
            }
            _ if want_dir => StorageError::NotADirectory(path),
            _ => StorageError::NotAFile(path),
        }
    }

    /// Open the subdirectory `name`, never following a symlink. With
    /// `create`, a missing directory is made; without, `Ok(None)` is
    /// returned for it.
    pub(crate) fn child_dir(&self, name: &str, create: bool) -> Result<Option<Dir>, StorageError> {
        check_component(name)?;
        let path = self.path.join(name);
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mut made = false;
        loop {
            match retry(|| rustix::fs::openat(&self.fd, name, flags, Mode::empty())) {
                Ok(fd) => return Ok(Some(Dir { fd, path })),
                Err(Errno::NOENT) if create && !made => {
                    match retry(|| rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(0o777)))
                    {
                        Ok(()) => debug!(path = %path.display(), "created directory"),
                        Err(Errno::EXIST) => {}
                        Err(e) => return Err(StorageError::io(path, e.into())),
                    }
                    made = true;
                }
                Err(Errno::NOENT) if !create => return Ok(None),
                Err(Errno::LOOP) => return Err(StorageError::Symlink(path)),
                Err(Errno::NOTDIR) => return Err(self.classify(name, path, true)),
                Err(e) => return Err(StorageError::io(path, e.into())),
            }
        }
    }

    /// Open the regular file `name` in this directory without following a
    /// symlink. `Write` opens read-write and creates the file if missing;
    /// `Read` returns `Ok(None)` for a missing file.
    pub(crate) fn open_file(
        &self,
        name: &str,
        access: Access,
    ) -> Result<Option<File>, StorageError> {
        check_component(name)?;
        let path = self.path.join(name);
        let mut flags = OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        flags |= match access {
            Access::Read => OFlags::RDONLY,
            Access::Write => OFlags::RDWR | OFlags::CREATE,
        };
        let fd =
            match retry(|| rustix::fs::openat(&self.fd, name, flags, Mode::from_raw_mode(0o666))) {
                Ok(fd) => fd,
                Err(Errno::NOENT) if access == Access::Read => return Ok(None),
                Err(Errno::LOOP) | Err(Errno::NOTDIR) | Err(Errno::ISDIR) | Err(Errno::NXIO) => {
                    return Err(self.classify(name, path, false))
                }
                Err(e) => return Err(StorageError::io(path, e.into())),
            };
        Self::regular_file(fd, path).map(Some)
    }

    /// Create or truncate `name` for writing (the resume file's temporary).
    pub(crate) fn create_truncate(&self, name: &str) -> Result<File, StorageError> {
        check_component(name)?;
        let path = self.path.join(name);
        let flags = OFlags::WRONLY
            | OFlags::CREATE
            | OFlags::TRUNC
            | OFlags::NOFOLLOW
            | OFlags::NONBLOCK
            | OFlags::CLOEXEC;
        let fd =
            match retry(|| rustix::fs::openat(&self.fd, name, flags, Mode::from_raw_mode(0o644))) {
                Ok(fd) => fd,
                Err(Errno::LOOP) | Err(Errno::ISDIR) | Err(Errno::NXIO) => {
                    return Err(self.classify(name, path, false))
                }
                Err(e) => return Err(StorageError::io(path, e.into())),
            };
        Self::regular_file(fd, path)
    }

    /// Accept an opened descriptor only if it is a regular file, and clear
    /// the `O_NONBLOCK` used to open it.
    fn regular_file(fd: OwnedFd, path: PathBuf) -> Result<File, StorageError> {
        let file = File::from(fd);
        let meta = file.metadata().map_err(|e| StorageError::io(&path, e))?;
        if !meta.is_file() {
            return Err(StorageError::NotAFile(path));
        }
        rustix::fs::fcntl_setfl(&file, OFlags::empty())
            .map_err(|e| StorageError::io(&path, e.into()))?;
        Ok(file)
    }

    /// Atomically rename `from` to `to`, both in this directory.
    pub(crate) fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
        check_component(from)?;
        check_component(to)?;
        retry(|| rustix::fs::renameat(&self.fd, from, &self.fd, to))
            .map_err(|e| StorageError::io(self.path.join(to), e.into()))
    }

    /// Create the symbolic link `name` -> `target` in this directory; an
    /// existing entry of that name is kept as it is. `path` is for messages.
    pub(crate) fn symlink(
        &self,
        name: &str,
        target: &Path,
        path: PathBuf,
    ) -> Result<(), StorageError> {
        check_component(name)?;
        match retry(|| rustix::fs::symlinkat(target, &self.fd, name)) {
            Ok(()) => {
                debug!(path = %path.display(), target = %target.display(), "created symlink");
                Ok(())
            }
            Err(Errno::EXIST) => Ok(()),
            Err(e) => Err(StorageError::io(path, e.into())),
        }
    }

    /// Remove the file `name` (ignoring its absence).
    pub(crate) fn remove_file(&self, name: &str) -> Result<(), StorageError> {
        check_component(name)?;
        match retry(|| rustix::fs::unlinkat(&self.fd, name, AtFlags::empty())) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(StorageError::io(self.path.join(name), e.into())),
        }
    }

    /// `fsync` the directory itself, making renames and new entries durable.
    pub(crate) fn sync(&self) -> Result<(), StorageError> {
        retry(|| rustix::fs::fsync(&self.fd)).map_err(|e| StorageError::io(&self.path, e.into()))
    }
}

/// An open file in the cache.
#[derive(Debug)]
struct Cached {
    file: Arc<File>,
    writable: bool,
    last_used: u64,
}

/// A bounded set of open handles, evicting the least recently used.
#[derive(Debug)]
struct FdCache {
    capacity: usize,
    tick: u64,
    entries: HashMap<usize, Cached>,
}

/// The files of one torrent below a download directory, opened lazily
/// through a bounded handle cache.
#[derive(Debug)]
pub(crate) struct FileSet {
    root: Dir,
    /// The torrent, for its file paths (not copied: they can be many).
    torrent: Arc<Torrent>,
    /// The torrent's folder below `root` (multi-file torrents only).
    base: Option<String>,
    cache: Mutex<FdCache>,
    /// Files written since the last [`FileSet::sync_dirty`].
    dirty: Vec<AtomicBool>,
    /// Files written (or resized) since the last [`FileSet::take_touched`].
    touched: Vec<AtomicBool>,
    /// Serialises syncs: a sync returning means every write that marked a
    /// file dirty before it started is durable, even if a concurrent sync
    /// took the flag.
    sync_lock: Mutex<()>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl FileSet {
    /// Describe `torrent`'s files below `root`: in a folder named after
    /// the torrent for a multi-file torrent, directly in `root` for a single
    /// file. Checks every path component; opens nothing except to check
    /// that an existing folder (or single file) is not a symlink.
    pub(crate) fn new(
        root: Dir,
        torrent: Arc<Torrent>,
        max_open: usize,
    ) -> Result<FileSet, StorageError> {
        let layout = &torrent.layout;
        let base = layout.multi_file.then(|| torrent.name.clone());
        if let Some(b) = &base {
            check_component(b)?;
        }
        // What the torrent puts directly in `root`: its folder, or its file.
        let top = base.as_deref().or_else(|| {
            layout
                .files
                .first()
                .and_then(|f| f.path.first())
                .map(String::as_str)
        });
        if top == Some(crate::resume::RESUME_DIR) {
            return Err(StorageError::ReservedName(
                crate::resume::RESUME_DIR.to_owned(),
            ));
        }
        for f in &layout.files {
            if f.path.is_empty() {
                return Err(StorageError::UnsafePath {
                    component: String::new(),
                });
            }
            for c in &f.path {
                check_component(c)?;
            }
        }
        let set = FileSet {
            root,
            dirty: layout
                .files
                .iter()
                .map(|_| AtomicBool::new(false))
                .collect(),
            touched: layout.files.iter().map(|_| AtomicBool::new(true)).collect(),
            sync_lock: Mutex::new(()),
            base,
            torrent,
            cache: Mutex::new(FdCache {
                capacity: max_open.max(1),
                tick: 0,
                entries: HashMap::new(),
            }),
        };
        // Fail early and clearly on a planted symlink at the content base
        // (the torrent's folder, or a single file itself).
        match &set.base {
            Some(b) => {
                set.root.child_dir(b, false)?;
            }
            None if set.len() == 1 => {
                set.in_parent(0, false, |dir, name| dir.open_file(name, Access::Read))?;
            }
            None => {}
        }
        Ok(set)
    }

    /// Directories from the download directory down to file `index`'s
    /// parent, and its name.
    fn parts(&self, index: usize) -> (impl Iterator<Item = &str>, &str) {
        let path = self
            .torrent
            .layout
            .files
            .get(index)
            .map_or(&[][..], |f| &f.path[..]);
        let (name, parents) = path
            .split_last()
            .map_or(("", &[][..]), |(n, p)| (n.as_str(), p));
        let dirs = self
            .base
            .iter()
            .map(String::as_str)
            .chain(parents.iter().map(String::as_str));
        (dirs, name)
    }

    /// Whether file `index` is a regular file on disk (not BEP 47
    /// padding, not a symlink entry).
    pub(crate) fn is_regular(&self, index: usize) -> bool {
        self.torrent
            .layout
            .files
            .get(index)
            .is_some_and(|f| f.is_regular())
    }

    /// Whether file `index` should be executable (BEP 47 `x`).
    fn is_executable(&self, index: usize) -> bool {
        self.torrent
            .layout
            .files
            .get(index)
            .is_some_and(|f| f.attr.executable)
    }

    /// Create the symlink entry `index` (BEP 47 `l`) pointing at `target`
    /// (relative to the link's folder; the metainfo layer has checked it
    /// resolves inside the torrent's directory). An existing entry of that
    /// name is left alone.
    pub(crate) fn create_symlink(&self, index: usize, target: &Path) -> Result<(), StorageError> {
        let path = self.display_path(index);
        self.in_parent(index, true, |dir, name| dir.symlink(name, target, path))?;
        Ok(())
    }

    /// Length the torrent gives file `index`.
    fn length(&self, index: usize) -> u64 {
        self.torrent.layout.files.get(index).map_or(0, |f| f.length)
    }

    /// The download directory.
    pub(crate) fn root(&self) -> &Dir {
        &self.root
    }

    /// Path of file `index`, for messages.
    pub(crate) fn display_path(&self, index: usize) -> PathBuf {
        let mut p = self.root.path().to_path_buf();
        let (dirs, name) = self.parts(index);
        p.extend(dirs);
        p.push(name);
        p
    }

    /// Walk to the parent directory of file `index` and run `f` on it with
    /// the file's name. `Ok(None)` if a directory is missing and `create`
    /// is false.
    fn in_parent<T>(
        &self,
        index: usize,
        create: bool,
        f: impl FnOnce(&Dir, &str) -> Result<T, StorageError>,
    ) -> Result<Option<T>, StorageError> {
        let (dirs, name) = self.parts(index);
        let mut owned: Option<Dir> = None;
        for d in dirs {
            let parent = owned.as_ref().unwrap_or(&self.root);
            match parent.child_dir(d, create)? {
                Some(next) => owned = Some(next),
                None => return Ok(None),
            }
        }
        f(owned.as_ref().unwrap_or(&self.root), name).map(Some)
    }

    /// Open file `index` without the cache. `Write` creates it (and its
    /// directories) and sets its length to the torrent's, sparsely.
    fn open_uncached(&self, index: usize, access: Access) -> Result<Option<File>, StorageError> {
        let opened = self.in_parent(index, access == Access::Write, |dir, name| {
            dir.open_file(name, access)
        })?;
        let Some(Some(file)) = opened else {
            return Ok(None);
        };
        if access == Access::Write {
            let expected = self.length(index);
            let path = || self.display_path(index);
            let len = file
                .metadata()
                .map_err(|e| StorageError::io(path(), e))?
                .len();
            if len != expected {
                if len > expected {
                    warn!(path = %path().display(), len, expected,
                        "file longer than the torrent says: truncating");
                } else {
                    debug!(path = %path().display(), len = expected, "preallocating (sparse)");
                }
                file.set_len(expected)
                    .map_err(|e| StorageError::io(path(), e))?;
                self.mark_touched(index);
            }
            if self.is_executable(index) {
                super::attrs::make_executable(&file).map_err(|e| StorageError::io(path(), e))?;
            }
        }
        Ok(Some(file))
    }

    /// A handle on file `index`, from the cache or freshly opened. `Read`
    /// fails with [`StorageError::Missing`] if the file does not exist.
    pub(crate) fn get(&self, index: usize, access: Access) -> Result<Arc<File>, StorageError> {
        {
            let mut c = lock(&self.cache);
            c.tick += 1;
            let tick = c.tick;
            if let Some(e) = c.entries.get_mut(&index) {
                if access == Access::Read || e.writable {
                    e.last_used = tick;
                    return Ok(e.file.clone());
                }
            }
        }
        // Open outside the lock: it may take several system calls.
        let file = match self.open_uncached(index, access)? {
            Some(f) => Arc::new(f),
            None => return Err(StorageError::Missing(self.display_path(index))),
        };
        let mut c = lock(&self.cache);
        if !c.entries.contains_key(&index) && c.entries.len() >= c.capacity {
            if let Some(victim) = c
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| *k)
            {
                c.entries.remove(&victim);
            }
        }
        let tick = c.tick;
        c.entries.insert(
            index,
            Cached {
                file: file.clone(),
                writable: access == Access::Write,
                last_used: tick,
            },
        );
        Ok(file)
    }

    /// Remember that file `index` has unsynced writes.
    pub(crate) fn mark_dirty(&self, index: usize) {
        if let Some(d) = self.dirty.get(index) {
            d.store(true, Ordering::Release);
        }
        self.mark_touched(index);
    }

    fn mark_touched(&self, index: usize) {
        if let Some(t) = self.touched.get(index) {
            t.store(true, Ordering::Release);
        }
    }

    /// Whether file `index` was written or resized since the last call
    /// (initially: yes), clearing the flag.
    pub(crate) fn take_touched(&self, index: usize) -> bool {
        self.touched
            .get(index)
            .is_some_and(|t| t.swap(false, Ordering::AcqRel))
    }

    /// Make every file written since the last call durable. Returns how
    /// many files were dirty.
    ///
    /// A few files are `fdatasync`ed one by one. Beyond
    /// [`SYNCFS_THRESHOLD`] (on Linux) one `syncfs` per file system is used
    /// instead: a journalling file system commits once per `fdatasync`, so
    /// syncing thousands of small files one by one takes minutes.
    pub(crate) fn sync_dirty(&self) -> Result<usize, StorageError> {
        let _one_at_a_time = lock(&self.sync_lock);
        let dirty: Vec<usize> = self
            .dirty
            .iter()
            .enumerate()
            .filter(|(_, d)| d.swap(false, Ordering::AcqRel))
            .map(|(i, _)| i)
            .collect();
        let r = self.sync_files(&dirty);
        if r.is_err() {
            for &i in &dirty {
                self.mark_dirty(i);
            }
        }
        r.map(|()| dirty.len())
    }

    fn sync_files(&self, dirty: &[usize]) -> Result<(), StorageError> {
        #[cfg(target_os = "linux")]
        if dirty.len() > SYNCFS_THRESHOLD {
            let mut filesystems: HashMap<u64, (usize, Arc<File>)> = HashMap::new();
            for &i in dirty {
                let f = self.get(i, Access::Read)?;
                let dev = f
                    .metadata()
                    .map_err(|e| StorageError::io(self.display_path(i), e))?
                    .dev();
                filesystems.entry(dev).or_insert((i, f));
            }
            for (i, f) in filesystems.values() {
                retry(|| rustix::fs::syncfs(&**f))
                    .map_err(|e| StorageError::io(self.display_path(*i), e.into()))?;
            }
            return Ok(());
        }
        for &i in dirty {
            self.get(i, Access::Read)?
                .sync_data()
                .map_err(|e| StorageError::io(self.display_path(i), e))?;
        }
        Ok(())
    }

    /// Size and modification time of file `index`, or `None` if it is
    /// absent or not something we would open (symlink, FIFO, ...).
    pub(crate) fn state(&self, index: usize) -> Option<FileState> {
        let r = self.in_parent(index, false, |dir, name| dir.open_file(name, Access::Read));
        let file = match r {
            Ok(Some(Some(f))) => f,
            Ok(_) => return None,
            Err(e) => {
                debug!(error = %e, "file not usable");
                return None;
            }
        };
        let meta = file.metadata().ok()?;
        Some(FileState {
            size: meta.len(),
            mtime_ns: meta
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(meta.mtime_nsec()),
        })
    }

    /// Create every zero-length file that does not exist yet (they hold no
    /// piece, so nothing else would create them). BEP 47 padding files and
    /// symlink entries are never created as files.
    pub(crate) fn create_empty_files(&self) -> Result<(), StorageError> {
        for i in 0..self.len() {
            if self.length(i) != 0 || !self.is_regular(i) {
                continue;
            }
            match self.state(i) {
                Some(s) if s.size == 0 => continue,
                _ => {
                    self.open_uncached(i, Access::Write)?;
                }
            }
        }
        Ok(())
    }

    /// Number of handles currently held by the cache.
    pub(crate) fn open_count(&self) -> usize {
        lock(&self.cache).entries.len()
    }

    /// Number of files.
    pub(crate) fn len(&self) -> usize {
        self.torrent.layout.files.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_rechecked() {
        for bad in ["", ".", "..", "a/b", "a\\b", "a\0b", &"x".repeat(256)] {
            assert!(check_component(bad).is_err(), "{bad:?}");
        }
        for good in ["a", "...", ".hidden", "é"] {
            assert!(check_component(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn refuses_symlinked_dirs_and_files() {
        let t = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = Dir::open_root(t.path()).unwrap();
        std::os::unix::fs::symlink(outside.path(), t.path().join("link")).unwrap();
        assert!(matches!(
            root.child_dir("link", true),
            Err(StorageError::Symlink(_))
        ));
        std::fs::write(outside.path().join("f"), b"x").unwrap();
        std::os::unix::fs::symlink(outside.path().join("f"), t.path().join("f")).unwrap();
        assert!(matches!(
            root.open_file("f", Access::Write),
            Err(StorageError::Symlink(_))
        ));
        assert!(matches!(
            root.open_file("f", Access::Read),
            Err(StorageError::Symlink(_))
        ));
        // Dangling link: must not create the target.
        std::os::unix::fs::symlink(outside.path().join("new"), t.path().join("g")).unwrap();
        assert!(root.open_file("g", Access::Write).is_err());
        assert!(!outside.path().join("new").exists());
        assert_eq!(std::fs::read(outside.path().join("f")).unwrap(), b"x");
    }

    #[test]
    fn refuses_fifo_without_hanging() {
        let t = tempfile::tempdir().unwrap();
        let root = Dir::open_root(t.path()).unwrap();
        let p = t.path().join("fifo");
        let status = std::process::Command::new("mkfifo").arg(&p).status();
        if !matches!(status, Ok(s) if s.success()) {
            return; // no mkfifo here: nothing to test
        }
        assert!(matches!(
            root.open_file("fifo", Access::Read),
            Err(StorageError::NotAFile(_))
        ));
        assert!(matches!(
            root.open_file("fifo", Access::Write),
            Err(StorageError::NotAFile(_))
        ));
    }

    fn torrent(files: Vec<(Vec<String>, u64)>) -> Arc<Torrent> {
        let layout = shoal_metainfo::Layout::new(16 << 10, files, true).unwrap();
        Arc::new(Torrent {
            info_hash: shoal_metainfo::InfoHash([0; 20]),
            info_bytes: Vec::new(),
            name: "t".into(),
            piece_hashes: vec![[0; 20]; layout.piece_count as usize],
            layout,
            private: false,
            source: None,
            trackers: Vec::new(),
            web_seeds: Vec::new(),
            comment: None,
            created_by: None,
            creation_date: None,
        })
    }

    #[test]
    fn fd_cache_is_bounded() {
        let t = tempfile::tempdir().unwrap();
        let files: Vec<(Vec<String>, u64)> = (0..50)
            .map(|i| (vec![format!("d{}", i % 5), format!("f{i}")], 10))
            .collect();
        let set = FileSet::new(Dir::open_root(t.path()).unwrap(), torrent(files), 8).unwrap();
        for i in 0..50 {
            let f = set.get(i, Access::Write).unwrap();
            assert_eq!(f.metadata().unwrap().len(), 10);
            assert!(set.open_count() <= 8);
        }
        assert!(t.path().join("t/d3/f48").is_file());
        // Reads reuse writable handles; a missing file is Missing.
        set.get(49, Access::Read).unwrap();
        let set2 = FileSet::new(
            Dir::open_root(t.path()).unwrap(),
            torrent(vec![(vec!["nope".into()], 5)]),
            8,
        )
        .unwrap();
        assert!(matches!(
            set2.get(0, Access::Read),
            Err(StorageError::Missing(_))
        ));
        assert!(set2.state(0).is_none());
    }
}
