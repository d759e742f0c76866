//! uTP (BEP 29) with LEDBAT congestion control: a sans-I/O core and a tokio driver.
#![warn(missing_docs)]
