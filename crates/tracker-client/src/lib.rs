//! Async tracker client (HTTP via rustls, UDP per BEP 15) with BEP 12 tiers.
