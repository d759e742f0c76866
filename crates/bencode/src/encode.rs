//! The encoder.

/// Append `i<n>e` to `out`.
pub fn encode_int(out: &mut Vec<u8>, n: i64) {
    out.push(b'i');
    out.extend_from_slice(n.to_string().as_bytes());
    out.push(b'e');
}

/// Append `<len>:<bytes>` to `out`.
pub fn encode_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(b.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(b);
}

/// A streaming encoder that writes bencode straight into a buffer.
///
/// The caller is responsible for writing dictionary keys in sorted order;
/// in debug builds the encoder checks it.
#[derive(Debug, Default)]
pub struct Encoder {
    out: Vec<u8>,
    // For each open dictionary, the last key written (debug check only).
    #[cfg(debug_assertions)]
    open_dicts: Vec<Option<Vec<u8>>>,
}

impl Encoder {
    /// A new, empty encoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Write an integer.
    pub fn int(&mut self, n: i64) -> &mut Self {
        encode_int(&mut self.out, n);
        self
    }

    /// Write a byte string.
    pub fn bytes(&mut self, b: impl AsRef<[u8]>) -> &mut Self {
        encode_bytes(&mut self.out, b.as_ref());
        self
    }

    /// Write a dictionary key (a byte string), checking order in debug builds.
    pub fn key(&mut self, k: &str) -> &mut Self {
        #[cfg(debug_assertions)]
        if let Some(last) = self.open_dicts.last_mut() {
            if let Some(prev) = last {
                debug_assert!(prev.as_slice() < k.as_bytes(), "unsorted key {k}");
            }
            *last = Some(k.as_bytes().to_vec());
        }
        self.bytes(k)
    }

    /// Open a list.
    pub fn begin_list(&mut self) -> &mut Self {
        self.out.push(b'l');
        #[cfg(debug_assertions)]
        self.open_dicts.push(None);
        self
    }

    /// Open a dictionary.
    pub fn begin_dict(&mut self) -> &mut Self {
        self.out.push(b'd');
        #[cfg(debug_assertions)]
        self.open_dicts.push(None);
        self
    }

    /// Close the innermost list or dictionary.
    pub fn end(&mut self) -> &mut Self {
        self.out.push(b'e');
        #[cfg(debug_assertions)]
        self.open_dicts.pop();
        self
    }

    /// Append already-encoded bencode verbatim (e.g. a raw info dict).
    pub fn raw(&mut self, encoded: &[u8]) -> &mut Self {
        self.out.extend_from_slice(encoded);
        self
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.out
    }

    /// Finish and return the buffer.
    pub fn finish(self) -> Vec<u8> {
        self.out
    }
}
