//! Download roots: every directory a client names must lie inside one.

use std::path::{Component, Path, PathBuf};

use crate::error::DaemonError;

/// The directories downloads may go into, canonicalized where they exist.
#[derive(Debug, Clone)]
pub struct Roots {
    roots: Vec<PathBuf>,
    default_dir: PathBuf,
}

impl Roots {
    /// Roots as configured; each is created if missing (they are the
    /// operator's own choice) and canonicalized.
    pub fn new(roots: &[PathBuf], default_dir: &Path) -> Result<Roots, DaemonError> {
        let mut out = Vec::new();
        for r in roots {
            std::fs::create_dir_all(r).map_err(|e| {
                DaemonError::Config(format!("cannot create download root {}: {e}", r.display()))
            })?;
            out.push(
                std::fs::canonicalize(r).map_err(|e| {
                    DaemonError::Config(format!("download root {}: {e}", r.display()))
                })?,
            );
        }
        let roots = Roots {
            roots: out,
            default_dir: PathBuf::new(),
        };
        let default_dir = match roots.check(default_dir) {
            Ok(d) => d,
            Err(_) => roots.roots.first().cloned().unwrap_or_default(),
        };
        Ok(Roots {
            default_dir,
            ..roots
        })
    }

    /// The roots.
    pub fn list(&self) -> &[PathBuf] {
        &self.roots
    }

    /// The default download directory (inside a root).
    pub fn default_dir(&self) -> &Path {
        &self.default_dir
    }

    /// Resolve a directory a client asked for: relative paths are taken
    /// under the default directory, `..` is resolved lexically, symlinks
    /// of the part that exists are followed, and the result must lie in a
    /// root. Creates nothing.
    pub fn check(&self, requested: &Path) -> Result<PathBuf, DaemonError> {
        let outside = || {
            DaemonError::BadRequest(format!(
                "path {} is outside the download roots ({})",
                requested.display(),
                self.roots
                    .iter()
                    .map(|r| r.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        };
        if requested.as_os_str().is_empty() {
            return Ok(self.default_dir.clone());
        }
        let joined = if requested.is_absolute() {
            requested.to_path_buf()
        } else {
            self.default_dir.join(requested)
        };
        let mut lexical = PathBuf::new();
        for c in joined.components() {
            match c {
                Component::ParentDir => {
                    lexical.pop();
                }
                Component::CurDir => {}
                other => lexical.push(other.as_os_str()),
            }
        }
        // Follow symlinks in the longest existing ancestor.
        let mut existing = lexical.clone();
        let mut rest = Vec::new();
        let resolved = loop {
            match std::fs::canonicalize(&existing) {
                Ok(c) => break c,
                Err(_) => {
                    let Some(name) = existing.file_name().map(|n| n.to_os_string()) else {
                        return Err(outside());
                    };
                    rest.push(name);
                    if !existing.pop() {
                        return Err(outside());
                    }
                }
            }
        };
        let mut full = resolved;
        for name in rest.into_iter().rev() {
            full.push(name);
        }
        if self.roots.iter().any(|r| full.starts_with(r)) {
            Ok(full)
        } else {
            Err(outside())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_outside_the_roots_are_refused_and_nothing_is_created() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("dl");
        let roots = Roots::new(std::slice::from_ref(&root), &root).unwrap();
        let canon = std::fs::canonicalize(&root).unwrap();
        assert_eq!(roots.check(Path::new("tv")).unwrap(), canon.join("tv"));
        assert_eq!(
            roots.check(&root.join("a/../b/new")).unwrap(),
            canon.join("b/new")
        );
        for bad in ["/etc", "/etc/shoal-x", "../escape", "tv/../../x", "/"] {
            let err = roots.check(Path::new(bad)).unwrap_err();
            assert!(
                err.to_string().contains("outside the download roots"),
                "{bad}: {err}"
            );
        }
        assert!(!Path::new("/etc/shoal-x").exists());
        // A symlink inside the root pointing out of it does not let a path out.
        std::os::unix::fs::symlink("/etc", root.join("link")).unwrap();
        assert!(roots.check(&root.join("link/sub")).is_err());
    }
}
