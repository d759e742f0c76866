//! Resume integration tests: trusting a matching resume file without
//! hashing, rechecking touched files, ignoring corrupt resume files, and
//! crashes (a dropped storage, and a real `kill -9` of a child process).

mod storage_support;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use shoal_engine::resume::{self, resume_path, ResumeData, RESUME_DIR};
use shoal_engine::storage::{ResumeStatus, Storage, StorageConfig, StorageError};
use shoal_metainfo::CreateProgress;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};
use storage_support::{multi, Fixture};

fn fixture() -> Fixture {
    multi(
        "res",
        32 << 10,
        &[
            ("one", 40_000),
            ("empty", 0),
            ("sub/two", 70_001),
            ("sub/three", 5),
            ("four", 60_000),
        ],
        42,
    )
}

fn cfg() -> StorageConfig {
    StorageConfig {
        write_cache_bytes: 1 << 20,
        ..StorageConfig::default()
    }
}

fn check(s: &Storage) -> shoal_engine::storage::CheckReport {
    s.check(&CreateProgress::default()).unwrap()
}

fn piece_bytes(fx: &Fixture, pieces: impl IntoIterator<Item = u32>) -> u64 {
    pieces
        .into_iter()
        .map(|p| fx.torrent.layout.piece_size(p))
        .sum()
}

fn set_mtime(path: &Path, t: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

/// Download everything and save the resume file; returns the directory.
fn complete_download(fx: &Fixture) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let s = fx.open(dir.path(), cfg());
    assert_eq!(check(&s).resume, ResumeStatus::NotFound);
    let n = fx.torrent.layout.piece_count;
    assert_eq!(fx.write_pieces(&s, 0..n), n as usize);
    s.save_resume().unwrap();
    dir
}

#[test]
fn unchanged_files_are_not_hashed_again() {
    let fx = fixture();
    let dir = complete_download(&fx);
    assert!(resume_path(dir.path(), &fx.torrent.info_hash).is_file());
    let s = fx.open(dir.path(), cfg());
    let report = check(&s);
    assert_eq!(report.resume, ResumeStatus::Matched);
    assert_eq!(report.hashed_bytes, 0);
    assert_eq!(report.rechecked_pieces, 0);
    assert_eq!(s.hashed_bytes(), 0);
    assert!(s.verified().is_complete());
    // Trusted pieces are served.
    assert_eq!(&s.read_block(3, 0, 100).unwrap()[..], fx.data(3, 0, 100));
}

#[test]
fn partial_download_resumes_with_exactly_its_pieces() {
    let fx = fixture();
    let dir = tempfile::tempdir().unwrap();
    let done = [0u32, 2, 3];
    {
        let s = fx.open(dir.path(), cfg());
        check(&s);
        assert_eq!(fx.write_pieces(&s, done), done.len());
        // A partial piece, never completed.
        let (p, begin, len) = fx.blocks().into_iter().find(|b| b.0 == 4).unwrap();
        s.write_block(p, begin, fx.data(p, begin, len)).unwrap();
        s.save_resume().unwrap();
    }
    let s = fx.open(dir.path(), cfg());
    let report = check(&s);
    assert_eq!(report.resume, ResumeStatus::Matched);
    assert_eq!(report.hashed_bytes, 0);
    let got: Vec<u32> = s.verified().iter_ones().map(|p| p as u32).collect();
    assert_eq!(got, done);
    // The rest downloads normally.
    let n = fx.torrent.layout.piece_count;
    fx.write_pieces(&s, (0..n).filter(|p| !done.contains(p)));
    assert!(s.verified().is_complete());
    fx.assert_files_equal(dir.path());
}

#[test]
fn touched_file_rechecks_its_pieces_only() {
    let fx = fixture();
    let dir = complete_download(&fx);
    let two = 2; // sub/two
    let two_path = fx.path(dir.path(), two);
    let its_pieces = fx.torrent.layout.file_pieces(two);

    // Same content, new mtime: its pieces are hashed again, and verify.
    set_mtime(&two_path, SystemTime::now() + Duration::from_secs(60));
    {
        let s = fx.open(dir.path(), cfg());
        let report = check(&s);
        assert_eq!(report.resume, ResumeStatus::FilesChanged(1));
        assert_eq!(report.rechecked_pieces, its_pieces.len());
        assert_eq!(report.hashed_bytes, piece_bytes(&fx, its_pieces.clone()));
        assert!(s.verified().is_complete());
        s.save_resume().unwrap();
    }
    // Corrupt one byte (and the mtime moves): that piece is lost.
    let mut data = std::fs::read(&two_path).unwrap();
    data[20_000] ^= 0xff;
    std::fs::write(&two_path, &data).unwrap();
    set_mtime(&two_path, SystemTime::now() + Duration::from_secs(120));
    let bad_piece =
        ((fx.torrent.layout.files[two].offset + 20_000) / fx.torrent.layout.piece_length) as u32;
    let s = fx.open(dir.path(), cfg());
    let report = check(&s);
    assert_eq!(report.resume, ResumeStatus::FilesChanged(1));
    let verified = s.verified();
    for p in 0..fx.torrent.layout.piece_count {
        assert_eq!(verified.get(p as usize), p != bad_piece, "piece {p}");
    }
    // A deleted file loses its pieces too, without reading them.
    drop(s);
    std::fs::remove_file(&two_path).unwrap();
    let s = fx.open(dir.path(), cfg());
    let report = check(&s);
    assert_eq!(report.resume, ResumeStatus::FilesChanged(1));
    assert_eq!(report.hashed_bytes, 0);
    for p in 0..fx.torrent.layout.piece_count {
        assert_eq!(s.has_piece(p), !its_pieces.contains(&p), "piece {p}");
    }
}

#[test]
fn no_resume_file_means_a_full_parallel_recheck() {
    let fx = fixture();
    let dir = complete_download(&fx);
    std::fs::remove_dir_all(dir.path().join(RESUME_DIR)).unwrap();
    let s = fx.open(dir.path(), cfg());
    let progress = CreateProgress::default();
    let report = s.check(&progress).unwrap();
    assert_eq!(report.resume, ResumeStatus::NotFound);
    assert_eq!(report.hashed_bytes, fx.torrent.layout.total_length);
    assert_eq!(
        progress.hashed.load(std::sync::atomic::Ordering::Relaxed),
        fx.torrent.layout.total_length
    );
    assert!(s.verified().is_complete());

    // Cancelled checks stop with an error.
    let cancelled = CreateProgress::default();
    cancelled
        .cancel
        .store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(matches!(s.check(&cancelled), Err(StorageError::Cancelled)));
}

#[test]
fn corrupt_or_hostile_resume_files_fall_back_to_recheck() {
    let fx = fixture();
    let dir = complete_download(&fx);
    let path = resume_path(dir.path(), &fx.torrent.info_hash);
    let good = std::fs::read(&path).unwrap();
    // Corrupt the data of piece `bad` behind the resume file's back,
    // keeping the mtime: only a recheck can notice it.
    let bad = (20_000 / fx.torrent.layout.piece_length) as u32;
    let one = fx.path(dir.path(), 0);
    let meta = std::fs::metadata(&one).unwrap();
    let mut data = std::fs::read(&one).unwrap();
    data[20_000] ^= 1;
    std::fs::write(&one, &data).unwrap();
    set_mtime(&one, meta.modified().unwrap());

    let mut other = ResumeData::decode(&good, &fx.torrent).unwrap();
    other.verified = shoal_engine::bitfield::Bitfield::new(3);
    let mut rng = StdRng::seed_from_u64(5);
    let mut garbage = vec![0u8; 300];
    rng.fill(&mut garbage[..]);
    let mut flipped = good.clone();
    let at = flipped.windows(9).position(|w| w == b"info-hash").unwrap() + 13;
    flipped[at] ^= 1;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", garbage),
        ("truncated", good[..good.len() / 2].to_vec()),
        ("empty", Vec::new()),
        ("wrong piece count", other.encode()),
        ("other torrent", flipped),
        ("huge", vec![b'0'; 10 << 20]),
        ("deep", [vec![b'l'; 1000], vec![b'e'; 1000]].concat()),
    ];
    for (what, bytes) in cases {
        std::fs::write(&path, &bytes).unwrap();
        let s = fx.open(dir.path(), cfg());
        let report = check(&s);
        assert!(
            matches!(report.resume, ResumeStatus::Invalid(_)),
            "{what}: {:?}",
            report.resume
        );
        assert_eq!(
            report.hashed_bytes, fx.torrent.layout.total_length,
            "{what}"
        );
        assert!(!s.has_piece(bad), "{what}: corrupt piece trusted");
        assert_eq!(
            s.verified().count_ones(),
            fx.torrent.layout.piece_count as usize - 1,
            "{what}"
        );
    }
    // A resume file that is a symlink (to a valid one!) is not followed.
    let elsewhere = tempfile::tempdir().unwrap();
    let target = elsewhere.path().join("r");
    std::fs::write(&target, &good).unwrap();
    std::fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink(&target, &path).unwrap();
    let s = fx.open(dir.path(), cfg());
    assert!(matches!(check(&s).resume, ResumeStatus::Invalid(_)));
    assert!(!s.has_piece(bad));
    // Saving replaces the link itself, and leaves the target alone.
    s.save_resume().unwrap();
    assert!(!std::fs::symlink_metadata(&path)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read(&target).unwrap(), good);
}

#[test]
fn dropped_storage_keeps_only_written_pieces() {
    let fx = fixture();
    let dir = tempfile::tempdir().unwrap();
    let n = fx.torrent.layout.piece_count;
    let saved: Vec<u32> = (0..n).filter(|p| p % 3 == 0).collect();
    let after: Vec<u32> = (0..n).filter(|p| p % 3 == 1).collect();
    {
        let s = fx.open(dir.path(), cfg());
        check(&s);
        fx.write_pieces(&s, saved.iter().copied());
        s.save_resume().unwrap();
        // Past the mtime granularity, so the later writes are noticed.
        std::thread::sleep(Duration::from_millis(50));
        fx.write_pieces(&s, after.iter().copied());
        // Partial pieces: all blocks but the last of each remaining piece.
        for p in (0..n).filter(|p| p % 3 == 2) {
            let blocks: Vec<_> = fx.blocks().into_iter().filter(|b| b.0 == p).collect();
            for &(p, begin, len) in &blocks[..blocks.len() - 1] {
                s.write_block(p, begin, fx.data(p, begin, len)).unwrap();
            }
        }
        // No save, no flush: dropped as by a crash.
    }
    // The resume file marks only what it saw.
    let r = resume::load(dir.path(), &fx.torrent).unwrap().unwrap();
    let marked: Vec<u32> = r.verified.iter_ones().map(|p| p as u32).collect();
    assert_eq!(marked, saved);
    let s = fx.open(dir.path(), cfg());
    let report = check(&s);
    assert!(matches!(report.resume, ResumeStatus::FilesChanged(_)));
    let mut want: Vec<u32> = saved.iter().chain(&after).copied().collect();
    want.sort_unstable();
    let got: Vec<u32> = s.verified().iter_ones().map(|p| p as u32).collect();
    assert_eq!(got, want, "pieces completed after the save are found again");
    for p in got {
        assert!(s.hash_piece(p).unwrap());
    }
}

/// The torrent the crash child downloads: 4 MiB in 64 pieces over files.
fn crash_fixture() -> Fixture {
    multi(
        "crash",
        64 << 10,
        &[
            ("a", 1_000_000),
            ("b/c", 777),
            ("b/empty", 0),
            ("d", 2_000_000),
            ("e", 1_193_527),
        ],
        99,
    )
}

/// Child side of `kill_dash_9_never_trusts_unwritten_pieces`: resumes the
/// download in `SHOAL_CRASH_DIR` and saves resume data every few pieces.
#[test]
#[ignore = "run as a child process by kill_dash_9_never_trusts_unwritten_pieces"]
fn crash_child() {
    let Ok(dir) = std::env::var("SHOAL_CRASH_DIR") else {
        return;
    };
    let seed: u64 = std::env::var("SHOAL_CRASH_SEED").unwrap().parse().unwrap();
    let fx = crash_fixture();
    let s = fx.open(
        Path::new(&dir),
        StorageConfig {
            write_cache_bytes: 200 << 10,
            ..StorageConfig::default()
        },
    );
    check(&s);
    println!("ready");
    let mut blocks: Vec<_> = fx
        .blocks()
        .into_iter()
        .filter(|b| !s.has_piece(b.0))
        .collect();
    blocks.shuffle(&mut StdRng::seed_from_u64(seed));
    let mut verified = 0;
    for (p, begin, len) in blocks {
        if s.write_block(p, begin, fx.data(p, begin, len)).unwrap()
            == shoal_engine::storage::WriteOutcome::Verified
        {
            verified += 1;
            if verified % 4 == 0 {
                s.save_resume().unwrap();
            }
        }
    }
    s.save_resume().unwrap();
    println!("done");
}

#[test]
fn kill_dash_9_never_trusts_unwritten_pieces() {
    let fx = crash_fixture();
    let exe = std::env::current_exe().unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    let mut interrupted = 0;
    // Three downloads, each killed at random points until the last round.
    for download in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let mut finished = false;
        for round in 0..6 {
            let mut child = Command::new(&exe)
                .args([
                    "--exact",
                    "crash_child",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("SHOAL_CRASH_DIR", dir.path())
                .env("SHOAL_CRASH_SEED", (download * 10 + round).to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let mut out = BufReader::new(child.stdout.take().unwrap());
            let mut line = String::new();
            while out.read_line(&mut line).unwrap() > 0 && !line.contains("ready") {}
            if round < 5 {
                std::thread::sleep(Duration::from_millis(rng.gen_range(0..30)));
                child.kill().unwrap(); // SIGKILL
            }
            let mut rest = String::new();
            std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
            child.wait().unwrap();
            finished |= rest.contains("done");
            if !rest.contains("done") {
                interrupted += 1;
            }

            // Every piece the resume file marks is on disk, byte for byte.
            if let Some(r) = resume::load(dir.path(), &fx.torrent).unwrap() {
                for p in r.verified.iter_ones() {
                    let p = p as u32;
                    let mut buf = vec![0u8; fx.torrent.layout.piece_size(p) as usize];
                    let mut at = 0;
                    for span in fx.torrent.layout.piece_spans(p) {
                        let data = std::fs::read(fx.path(dir.path(), span.file_index)).unwrap();
                        let from = span.file_offset as usize;
                        buf[at..at + span.len as usize]
                            .copy_from_slice(&data[from..from + span.len as usize]);
                        at += span.len as usize;
                    }
                    assert!(buf == fx.data(p, 0, buf.len() as u32), "piece {p}");
                }
            }
            // And whatever a restart trusts verifies.
            let s = fx.open(dir.path(), cfg());
            let report = check(&s);
            eprintln!("download {download} round {round}: {report:?}");
            for p in s.verified().iter_ones() {
                assert!(s.hash_piece(p as u32).unwrap(), "piece {p}");
            }
        }
        assert!(finished, "the last child ran to completion");
        let s = fx.open(dir.path(), cfg());
        assert_eq!(check(&s).resume, ResumeStatus::Matched);
        assert!(s.verified().is_complete());
        fx.assert_files_equal(dir.path());
    }
    assert!(
        interrupted >= 4,
        "only {interrupted} children killed mid-way"
    );
}

#[test]
fn external_change_between_saves_is_still_noticed() {
    // Saves only stat the files written since the previous save; a file
    // changed behind our back keeps its recorded state, so the restart
    // still rechecks it.
    let fx = fixture();
    let dir = tempfile::tempdir().unwrap();
    let s = fx.open(dir.path(), cfg());
    check(&s);
    let n = fx.torrent.layout.piece_count;
    fx.write_pieces(&s, 0..n);
    s.save_resume().unwrap();
    let four = fx.path(dir.path(), 4);
    set_mtime(&four, SystemTime::now() + Duration::from_secs(300));
    s.save_resume().unwrap();
    drop(s);
    let s = fx.open(dir.path(), cfg());
    let report = check(&s);
    assert_eq!(report.resume, ResumeStatus::FilesChanged(1));
    assert_eq!(
        report.hashed_bytes,
        piece_bytes(&fx, fx.torrent.layout.file_pieces(4))
    );
    assert!(s.verified().is_complete());
    // That check recorded the new state: the next save and restart match.
    s.save_resume().unwrap();
    drop(s);
    let s = fx.open(dir.path(), cfg());
    assert_eq!(check(&s).resume, ResumeStatus::Matched);
}
