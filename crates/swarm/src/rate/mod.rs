//! Rate accounting: how fast bytes move ([`estimator`]) and how fast they
//! may move ([`token_bucket`]). The async edge that waits on a bucket
//! lives in the engine (`shoal_engine::limiter`).

pub mod estimator;
pub mod token_bucket;

pub use estimator::RateEstimator;
pub use token_bucket::TokenBucket;
