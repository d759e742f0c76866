//! Building the snapshots of [`super::info`] from a record and, while it
//! runs, its torrent's state.

use std::time::{Duration, Instant};

use shoal_metainfo::Layout;

use super::info::{FileInfo, PeerInfo, PieceMap, TorrentSummary, TrackerInfo};
use super::{Phase, Record};
use crate::bitfield::Bitfield;

/// Bytes of the pieces in `set`, the last piece counted at its size.
fn bytes_of(layout: &Layout, set: &Bitfield) -> u64 {
    let n = set.count_ones() as u64;
    if n == 0 {
        return 0;
    }
    let last = layout.piece_count.saturating_sub(1);
    let mut bytes = n * layout.piece_length;
    if set.get(last as usize) {
        bytes = bytes - layout.piece_length + layout.piece_size(last);
    }
    bytes
}

/// The pieces wanted under the record's file priorities.
fn wanted_pieces(rec: &Record) -> Option<Bitfield> {
    let t = rec.torrent.as_ref()?;
    let mut bf = Bitfield::new(t.layout.piece_count as usize);
    for (i, p) in rec.piece_priorities().iter().enumerate() {
        if *p > 0 {
            let _ = bf.set(i, true);
        }
    }
    Some(bf)
}

/// Size of the wanted pieces (0 before metadata).
pub(super) fn wanted_size(rec: &Record) -> u64 {
    match (&rec.torrent, wanted_pieces(rec)) {
        (Some(t), Some(w)) => bytes_of(&t.layout, &w),
        _ => 0,
    }
}

/// The verified pieces: the running torrent's, else as last seen.
fn have(rec: &Record) -> Option<Bitfield> {
    match &rec.phase {
        Phase::Running(h) => Some(h.shared.lock().picker.have().clone()),
        _ => rec.have.clone(),
    }
}

fn and(a: &Bitfield, b: &Bitfield) -> Bitfield {
    let mut out = Bitfield::new(a.len());
    for i in a.iter_ones() {
        if b.get(i) {
            let _ = out.set(i, true);
        }
    }
    out
}

/// The record's summary.
pub(super) fn summary(rec: &Record) -> TorrentSummary {
    let t = rec.torrent.as_ref();
    let running = match &rec.phase {
        Phase::Running(h) => Some(h.stats()),
        _ => None,
    };
    let have = have(rec);
    let (total_size, piece_count, piece_length) = t.map_or((0, 0, 0), |t| {
        (
            t.layout.total_length,
            t.layout.piece_count,
            t.layout.piece_length,
        )
    });
    let (have_bytes, pieces_have, wanted_size, wanted_have) = match (t, &have) {
        (Some(t), Some(h)) => {
            let wanted = wanted_pieces(rec).unwrap_or_else(|| Bitfield::new(0));
            (
                bytes_of(&t.layout, h),
                h.count_ones() as u32,
                bytes_of(&t.layout, &wanted),
                bytes_of(&t.layout, &and(h, &wanted)),
            )
        }
        (Some(_), None) => (0, 0, wanted_size(rec), 0),
        _ => (0, 0, 0, 0),
    };
    let left = wanted_size.saturating_sub(wanted_have);
    let progress = if wanted_size == 0 {
        if t.is_some() {
            1.0
        } else {
            0.0
        }
    } else {
        wanted_have as f64 / wanted_size as f64
    };
    let (down_rate, up_rate, peers, run_down, run_up) =
        running.as_ref().map_or((0, 0, 0, 0, 0), |s| {
            (
                s.download_rate,
                s.upload_rate,
                s.peers,
                s.downloaded,
                s.uploaded,
            )
        });
    let uploaded = rec.past_uploaded + run_up;
    let eta = (left > 0 && down_rate > 0).then(|| Duration::from_secs(left / down_rate));
    TorrentSummary {
        id: rec.id,
        info_hash: rec.info_hash,
        name: rec.name.clone(),
        status: rec.status(),
        error: rec.error.clone(),
        download_dir: rec.dir.clone(),
        has_metadata: t.is_some(),
        total_size,
        wanted_size,
        have_bytes,
        left_until_done: left,
        progress,
        pieces_have,
        piece_count,
        piece_length,
        download_rate: down_rate,
        upload_rate: up_rate,
        downloaded: rec.past_downloaded + run_down,
        uploaded,
        ratio: if wanted_size > 0 {
            uploaded as f64 / wanted_size as f64
        } else {
            0.0
        },
        peers,
        eta,
        queue_position: rec.queue_position,
        added_at: rec.added_at,
        done_at: rec.done_at,
        seconds_downloading: rec.seconds_downloading.as_secs(),
        seconds_seeding: rec.seconds_seeding.as_secs(),
        settings: rec.settings.clone(),
        private: t.is_some_and(|t| t.private),
        comment: t.and_then(|t| t.comment.clone()),
        created_by: t.and_then(|t| t.created_by.clone()),
        creation_date: t.and_then(|t| t.creation_date),
        trackers: match (t, &rec.magnet) {
            (Some(t), _) => t.trackers.clone(),
            (None, Some(m)) => m.trackers.iter().map(|u| vec![u.clone()]).collect(),
            _ => Vec::new(),
        },
        magnet: match (t, &rec.magnet) {
            (Some(t), _) => t.magnet().to_string(),
            (None, Some(m)) => m.to_string(),
            _ => String::new(),
        },
    }
}

/// The record's files with their verified bytes.
pub(super) fn files(rec: &Record) -> Vec<FileInfo> {
    let Some(t) = &rec.torrent else {
        return Vec::new();
    };
    let layout = &t.layout;
    let have = have(rec).unwrap_or_else(|| Bitfield::new(layout.piece_count as usize));
    let prefix = if layout.multi_file {
        format!("{}/", t.name)
    } else {
        String::new()
    };
    layout
        .files
        .iter()
        .enumerate()
        .filter(|(_, f)| !f.is_padding())
        .map(|(i, f)| {
            let mut got = 0u64;
            for p in layout.file_pieces(i) {
                if have.get(p as usize) {
                    let start = layout.piece_offset(p).max(f.offset);
                    let end =
                        (layout.piece_offset(p) + layout.piece_size(p)).min(f.offset + f.length);
                    got += end.saturating_sub(start);
                }
            }
            FileInfo {
                index: i,
                path: format!("{prefix}{}", f.path.join("/")),
                length: f.length,
                have: got,
                priority: rec.files.get(i).copied().unwrap_or_default(),
            }
        })
        .collect()
}

/// The running torrent's peers.
pub(super) fn peers(rec: &Record) -> Vec<PeerInfo> {
    let Phase::Running(h) = &rec.phase else {
        return Vec::new();
    };
    let now = Instant::now();
    let st = h.shared.lock();
    let pieces = st.picker.piece_count().max(1);
    st.peers
        .iter()
        .map(|(key, p)| {
            let has = st
                .picker
                .peer_pieces(*key)
                .map_or(0, |b| b.count_ones() as u32);
            PeerInfo {
                address: p.public_addr(),
                client: p.client(),
                outgoing: p.outgoing,
                download_rate: p.state.download_rate(now),
                upload_rate: p.state.upload_rate(now),
                downloaded: p.state.downloaded(),
                uploaded: p.state.uploaded(),
                progress: f64::from(has) / f64::from(pieces),
                am_interested: p.state.am_interested(),
                am_choking: p.state.am_choking(),
                peer_interested: p.state.peer_interested(),
                peer_choking: p.state.peer_choking(),
            }
        })
        .collect()
}

/// The torrent's trackers, with the last announce's outcome.
pub(super) fn trackers(rec: &Record) -> Vec<TrackerInfo> {
    let tiers: Vec<Vec<String>> = match (&rec.torrent, &rec.magnet) {
        (Some(t), _) => t.trackers.clone(),
        (None, Some(m)) => m.trackers.iter().map(|u| vec![u.clone()]).collect(),
        _ => Vec::new(),
    };
    let log = match &rec.phase {
        Phase::Running(h) => h.shared.trackers.lock().ok().map(|l| l.clone()),
        _ => None,
    };
    let mut out = Vec::new();
    for (tier, urls) in tiers.iter().enumerate() {
        for url in urls {
            let current = log
                .as_ref()
                .and_then(|l| l.last_tracker.as_ref())
                .is_some_and(|t| t == url);
            let result =
                log.as_ref()
                    .filter(|l| l.last_at.is_some())
                    .map(|l| match &l.last_error {
                        Some(e) => Err(e.clone()),
                        None if current => Ok(l.last_peers),
                        None => Ok(0),
                    });
            out.push(TrackerInfo {
                url: url.clone(),
                tier,
                is_current: current,
                last_announce: log.as_ref().and_then(|l| l.last_at),
                last_result: result,
                next_announce: log.as_ref().and_then(|l| l.next_at),
            });
        }
    }
    out
}

/// The verified pieces as a bitfield.
pub(super) fn pieces(rec: &Record) -> PieceMap {
    let count = rec.torrent.as_ref().map_or(0, |t| t.layout.piece_count);
    let have = have(rec).unwrap_or_else(|| Bitfield::new(count as usize));
    PieceMap {
        piece_count: count,
        have: have.count_ones() as u32,
        bitfield: have.as_bytes().to_vec(),
    }
}
