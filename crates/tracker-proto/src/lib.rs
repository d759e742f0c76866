//! HTTP and UDP tracker protocol types and codecs.
