//! Hash maps and sets with a fixed hasher.
//!
//! The standard maps seed their hasher at random per process, so the order
//! in which they iterate — and with it every tie a choker, picker or
//! candidate list breaks by walking a map — changes from run to run. The
//! core promises that the same events and the same RNG seed give the same
//! decisions (the swarm simulator replays a run from its seed), so its maps
//! hash with a fixed key instead.
//!
//! A fixed key gives up the standard maps' protection against inputs
//! crafted to collide. Every map here that a remote party can grow is
//! capped (candidates, peers, bans, in-flight pieces), so a collision
//! attack costs at most a bounded number of probes per operation.

use std::collections::hash_map::DefaultHasher;
use std::hash::BuildHasherDefault;

/// The fixed-key hasher builder shared by the core's maps.
pub type FixedState = BuildHasherDefault<DefaultHasher>;

/// A [`std::collections::HashMap`] that iterates in the same order in every run.
pub type HashMap<K, V> = std::collections::HashMap<K, V, FixedState>;

/// A [`std::collections::HashSet`] that iterates in the same order in every run.
pub type HashSet<T> = std::collections::HashSet<T, FixedState>;
