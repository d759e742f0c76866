//! Mainline DHT (BEP 5): a sans-I/O KRPC node and a thin tokio driver.
#![warn(missing_docs)]
