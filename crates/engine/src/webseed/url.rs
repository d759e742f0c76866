//! Web seed addresses (BEP 19): the torrent's `url-list` normalised and
//! de-duplicated, and the URL of each file on a web seed.
//!
//! A URL is parsed (scheme and host lower-cased, default port dropped, dot
//! segments resolved, unsafe characters percent-encoded, the fragment
//! removed); anything but `http` and `https` with a host is dropped, and
//! so is a URL seen already. For a multi-file torrent a web seed holds the
//! torrent's folder: a file's URL is the web seed's URL (with a `/` added
//! if it lacks one) followed by the torrent's name and the file's path as
//! the torrent spells them, each component percent-encoded. For a
//! single-file torrent the URL names the file itself, unless it ends with
//! `/`, when the torrent's name is appended.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::Url;
use shoal_metainfo::Torrent;

/// Characters escaped in a path component: all but RFC 3986's unreserved
/// ones.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The usable web seeds among `urls`, normalised, each once, at most `max`.
pub fn normalise(urls: &[String], max: usize) -> Vec<Url> {
    let mut out: Vec<Url> = Vec::new();
    for raw in urls {
        let Ok(mut url) = Url::parse(raw.trim()) else {
            continue;
        };
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
            continue;
        }
        url.set_fragment(None);
        if !out.contains(&url) {
            out.push(url);
        }
        if out.len() >= max {
            break;
        }
    }
    out
}

/// The torrent's name as the torrent spells it (before any renaming for
/// the disk).
fn torrent_name(torrent: &Torrent) -> &str {
    torrent
        .layout
        .renames
        .iter()
        .find(|r| r.file.is_none())
        .map_or(torrent.name.as_str(), |r| r.original.as_str())
}

/// Append `components` (percent-encoded) to the path of `base`.
fn join(base: &Url, components: &[&str]) -> Url {
    let mut url = base.clone();
    let mut path = url.path().to_owned();
    for c in components {
        if !path.ends_with('/') {
            path.push('/');
        }
        path.extend(utf8_percent_encode(c, COMPONENT));
    }
    url.set_path(&path);
    url
}

/// The URL of file `index` of `torrent` on web seed `base`; `None` for a
/// padding file (its bytes are zeros, never fetched) or an unknown index.
pub fn file_url(base: &Url, torrent: &Torrent, index: usize) -> Option<Url> {
    let layout = &torrent.layout;
    let file = layout.files.get(index)?;
    if file.is_padding() {
        return None;
    }
    let name = torrent_name(torrent);
    if layout.multi_file {
        let mut parts: Vec<&str> = vec![name];
        parts.extend(file.torrent_path.iter().map(String::as_str));
        // The web seed's URL names the folder holding the torrent's.
        let mut dir = base.clone();
        if !dir.path().ends_with('/') {
            let p = format!("{}/", dir.path());
            dir.set_path(&p);
        }
        Some(join(&dir, &parts))
    } else if base.path().ends_with('/') {
        Some(join(base, &[name]))
    } else {
        Some(base.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_metainfo::{FileEntry, Layout};

    fn torrent(name: &str, files: &[(&[&str], u64)], multi: bool) -> Torrent {
        let entries: Vec<FileEntry> = files
            .iter()
            .map(|(p, len)| FileEntry::plain(p.iter().map(|s| s.to_string()).collect(), *len, 0))
            .collect();
        let layout =
            Layout::from_entries(16384, entries, multi, shoal_metainfo::MetaVersion::V1).unwrap();
        let mut t = Torrent::from_bytes(&minimal()).unwrap();
        t.name = name.to_owned();
        t.layout = layout;
        t
    }

    /// The bytes of a tiny valid torrent, to start from.
    fn minimal() -> Vec<u8> {
        let mut v = b"d4:infod6:lengthi1e4:name1:x12:piece lengthi16384e6:pieces20:".to_vec();
        v.extend_from_slice(&[0u8; 20]);
        v.extend_from_slice(b"ee");
        v
    }

    fn urls(list: &[&str]) -> Vec<String> {
        normalise(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>(), 32)
            .iter()
            .map(Url::to_string)
            .collect()
    }

    #[test]
    fn urls_are_normalised_and_deduplicated() {
        assert_eq!(
            urls(&[
                "HTTP://Example.COM:80/a/../files/",
                "http://example.com/files/",
                "http://example.com/files/#frag",
                " https://example.com:443/x y ",
                "ftp://example.com/f",
                "file:///etc/passwd",
                "not a url",
                "http://",
            ]),
            vec!["http://example.com/files/", "https://example.com/x%20y"]
        );
    }

    #[test]
    fn the_list_is_capped() {
        let many: Vec<String> = (0..100).map(|i| format!("http://h{i}/")).collect();
        assert_eq!(normalise(&many, 32).len(), 32);
    }

    #[test]
    fn single_file_urls() {
        let t = torrent("my file.iso", &[(&["my file.iso"], 100)], false);
        let base = Url::parse("http://h/pub/").unwrap();
        assert_eq!(
            file_url(&base, &t, 0).unwrap().as_str(),
            "http://h/pub/my%20file.iso"
        );
        let direct = Url::parse("http://h/pub/other.iso?x=1").unwrap();
        assert_eq!(file_url(&direct, &t, 0).unwrap(), direct);
    }

    #[test]
    fn multi_file_urls_name_the_folder_and_encode_each_component() {
        let t = torrent(
            "dir",
            &[
                (&["a b", "c#?.txt"], 10),
                (&["ü%/x"], 20),
                (&[".pad", "1"], 5),
            ],
            true,
        );
        let mut t = t;
        t.layout.files[2].attr.padding = true;
        for base in ["http://h/seed", "http://h/seed/"] {
            let base = Url::parse(base).unwrap();
            assert_eq!(
                file_url(&base, &t, 0).unwrap().as_str(),
                "http://h/seed/dir/a%20b/c%23%3F.txt"
            );
            assert_eq!(
                file_url(&base, &t, 1).unwrap().as_str(),
                "http://h/seed/dir/%C3%BC%25%2Fx"
            );
            assert_eq!(file_url(&base, &t, 2), None, "padding is never fetched");
            assert_eq!(file_url(&base, &t, 3), None);
        }
        // A query stays after the path.
        let q = Url::parse("https://h/s/?token=1").unwrap();
        assert_eq!(
            file_url(&q, &t, 0).unwrap().as_str(),
            "https://h/s/dir/a%20b/c%23%3F.txt?token=1"
        );
    }
}
