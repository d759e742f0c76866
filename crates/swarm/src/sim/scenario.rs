//! What to simulate: the torrent, the nodes, their links, and the
//! tunables of the core each node runs.

use std::time::Duration;

use super::link::Loss;
use crate::choker::ChokerConfig;
use crate::peer::PeerConfig;
use crate::picker::PickerConfig;

/// Whether a node starts with the whole content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Has every piece from the start.
    Seeder,
    /// Starts with nothing.
    Leecher,
}

/// One node of the swarm.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// Seeder or leecher.
    pub role: Role,
    /// Upload bandwidth, bytes/s.
    pub upload: u64,
    /// Download bandwidth, bytes/s (`None`: unlimited).
    pub download: Option<u64>,
    /// One-way latency between this node and the network core; two nodes
    /// are the sum of theirs apart. `None`: drawn from
    /// [`Scenario::latency`].
    pub latency: Option<Duration>,
    /// Pieces this node sends wrong data for (it knows the right data:
    /// its own copy verifies).
    pub corrupt_pieces: Vec<u32>,
    /// Super-seed (BEP 16) once complete.
    pub super_seed: bool,
    /// When the node joins the swarm (announces and starts dialing).
    pub join_at: Duration,
    /// Leave the swarm once the leechers hold a full copy among them.
    pub leave_after_full_copy: bool,
}

impl NodeSpec {
    /// A node with `role` uploading at `upload` bytes/s, joining at once.
    pub fn new(role: Role, upload: u64) -> NodeSpec {
        NodeSpec {
            role,
            upload,
            download: None,
            latency: None,
            corrupt_pieces: Vec::new(),
            super_seed: false,
            join_at: Duration::ZERO,
            leave_after_full_copy: false,
        }
    }
}

/// A swarm to simulate; build one with [`Scenario::new`] and the adders.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Seed of every random choice (content, latencies, peer lists, the
    /// nodes' own RNGs): the same scenario and seed give the same run.
    pub seed: u64,
    /// Size of the torrent's content, bytes.
    pub total_length: u64,
    /// Piece length, bytes.
    pub piece_length: u32,
    /// The nodes; their index is their id in the report.
    pub nodes: Vec<NodeSpec>,
    /// Range of per-node one-way latencies drawn for nodes with none set.
    pub latency: (Duration, Duration),
    /// Most peers per node (the engine's `max_peers`).
    pub max_peers: usize,
    /// Most dials under way per node (the engine's `max_half_open`).
    pub max_half_open: usize,
    /// Peers a node is given by the "tracker" when it joins.
    pub numwant: usize,
    /// Most block bytes a connection's writer takes per write (the
    /// engine's `UPLOAD_BATCH`).
    pub upload_batch: u64,
    /// Bytes an uplink sends of one connection before serving the next.
    pub chunk: usize,
    /// Interval of the housekeeping tick.
    pub tick: Duration,
    /// Hashing speed, bytes/s (`None`: a completed piece is verified at
    /// once).
    pub hash_rate: Option<u64>,
    /// Random loss, as retransmission delay.
    pub loss: Loss,
    /// Per-connection tunables.
    pub peer: PeerConfig,
    /// Choker tunables.
    pub choker: ChokerConfig,
    /// Picker tunables (the seed is replaced by one drawn per node).
    pub picker: PickerConfig,
    /// Both ends speak the fast extension (BEP 6).
    pub fast: bool,
    /// Both ends speak the extension protocol (BEP 10).
    pub extended: bool,
    /// Virtual time after which the run stops, complete or not.
    pub time_limit: Duration,
}

impl Scenario {
    /// A torrent of `total_length` bytes in pieces of `piece_length`, no
    /// nodes yet, the engine's default tunables, 20–100 ms between nodes.
    pub fn new(total_length: u64, piece_length: u32, seed: u64) -> Scenario {
        Scenario {
            seed,
            total_length,
            piece_length,
            nodes: Vec::new(),
            latency: (Duration::from_millis(10), Duration::from_millis(50)),
            max_peers: 50,
            max_half_open: 16,
            numwant: 50,
            upload_batch: 1 << 20,
            chunk: 16 * 1024,
            tick: Duration::from_millis(500),
            hash_rate: None,
            loss: Loss::default(),
            peer: PeerConfig::default(),
            choker: ChokerConfig::default(),
            picker: PickerConfig::default(),
            fast: true,
            extended: true,
            time_limit: Duration::from_secs(3600),
        }
    }

    /// Add `n` seeders uploading at `upload` bytes/s.
    pub fn seeders(mut self, n: usize, upload: u64) -> Scenario {
        self.nodes
            .extend((0..n).map(|_| NodeSpec::new(Role::Seeder, upload)));
        self
    }

    /// Add `n` leechers uploading at `upload` bytes/s.
    pub fn leechers(mut self, n: usize, upload: u64) -> Scenario {
        self.nodes
            .extend((0..n).map(|_| NodeSpec::new(Role::Leecher, upload)));
        self
    }

    /// Add one node.
    pub fn node(mut self, spec: NodeSpec) -> Scenario {
        self.nodes.push(spec);
        self
    }

    /// Per-node one-way latencies drawn from `min..=max`.
    pub fn latency(mut self, min: Duration, max: Duration) -> Scenario {
        self.latency = (min, max.max(min));
        self
    }

    /// Every seeder super-seeds.
    pub fn super_seed(mut self, on: bool) -> Scenario {
        for n in &mut self.nodes {
            if n.role == Role::Seeder {
                n.super_seed = on;
            }
        }
        self
    }

    /// Number of pieces.
    pub fn piece_count(&self) -> u32 {
        let pl = u64::from(self.piece_length.max(1));
        u32::try_from(self.total_length.div_ceil(pl)).unwrap_or(u32::MAX)
    }
}
