//! Decoded values.

use std::collections::BTreeMap;

/// A decoded bencode value borrowing from the input buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'a> {
    /// An integer (`i42e`).
    Int(i64),
    /// A byte string (`4:spam`), borrowed from the input.
    Bytes(&'a [u8]),
    /// A list (`l...e`).
    List(Vec<Value<'a>>),
    /// A dictionary (`d...e`).
    Dict(Dict<'a>),
}

/// A decoded dictionary: its entries in input order and its exact raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dict<'a> {
    pub(crate) entries: Vec<(&'a [u8], Value<'a>)>,
    pub(crate) raw: &'a [u8],
}

impl<'a> Dict<'a> {
    /// The value of the first entry with this key, if any.
    pub fn get(&self, key: &[u8]) -> Option<&Value<'a>> {
        self.entries.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The entries in the order they appeared in the input.
    pub fn entries(&self) -> &[(&'a [u8], Value<'a>)] {
        &self.entries
    }

    /// The exact bytes this dictionary was decoded from, `d` to `e` inclusive.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the dictionary has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The integer under `key`, if present and an integer.
    pub fn get_int(&self, key: &[u8]) -> Option<i64> {
        self.get(key).and_then(Value::as_int)
    }

    /// The byte string under `key`, if present and a byte string.
    pub fn get_bytes(&self, key: &[u8]) -> Option<&'a [u8]> {
        self.get(key).and_then(Value::as_bytes)
    }

    /// The UTF-8 string under `key`, if present and valid UTF-8.
    pub fn get_str(&self, key: &[u8]) -> Option<&'a str> {
        self.get(key).and_then(Value::as_str)
    }

    /// The list under `key`, if present and a list.
    pub fn get_list(&self, key: &[u8]) -> Option<&[Value<'a>]> {
        self.get(key).and_then(Value::as_list)
    }

    /// The dictionary under `key`, if present and a dictionary.
    pub fn get_dict(&self, key: &[u8]) -> Option<&Dict<'a>> {
        self.get(key).and_then(Value::as_dict)
    }
}

impl<'a> Value<'a> {
    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The byte string, if this is one.
    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The byte string as UTF-8, if this is a byte string of valid UTF-8.
    pub fn as_str(&self) -> Option<&'a str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    /// The list, if this is one.
    pub fn as_list(&self) -> Option<&[Value<'a>]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// The dictionary, if this is one.
    pub fn as_dict(&self) -> Option<&Dict<'a>> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// A short name of this value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Int(_) => "integer",
            Value::Bytes(_) => "byte string",
            Value::List(_) => "list",
            Value::Dict(_) => "dictionary",
        }
    }

    /// An owned copy of this value (dictionary keys become sorted; for
    /// duplicate keys the first one wins, as with [`Dict::get`]).
    pub fn to_owned_value(&self) -> OwnedValue {
        match self {
            Value::Int(i) => OwnedValue::Int(*i),
            Value::Bytes(b) => OwnedValue::Bytes(b.to_vec()),
            Value::List(l) => OwnedValue::List(l.iter().map(Value::to_owned_value).collect()),
            Value::Dict(d) => {
                let mut map = BTreeMap::new();
                for (k, v) in &d.entries {
                    map.entry(k.to_vec()).or_insert_with(|| v.to_owned_value());
                }
                OwnedValue::Dict(map)
            }
        }
    }

    /// Encode this value canonically (dictionary keys sorted).
    pub fn to_bencode(&self) -> Vec<u8> {
        self.to_owned_value().to_bencode()
    }
}

/// An owned bencode value, for building documents to encode.
///
/// Dictionaries are `BTreeMap`s, so they always encode with sorted keys.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum OwnedValue {
    /// An integer.
    Int(i64),
    /// A byte string.
    Bytes(Vec<u8>),
    /// A list.
    List(Vec<OwnedValue>),
    /// A dictionary with sorted keys.
    Dict(BTreeMap<Vec<u8>, OwnedValue>),
}

impl OwnedValue {
    /// Encode into a new buffer.
    pub fn to_bencode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Append the encoding to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            OwnedValue::Int(i) => crate::encode_int(out, *i),
            OwnedValue::Bytes(b) => crate::encode_bytes(out, b),
            OwnedValue::List(l) => {
                out.push(b'l');
                for v in l {
                    v.encode_into(out);
                }
                out.push(b'e');
            }
            OwnedValue::Dict(d) => {
                out.push(b'd');
                for (k, v) in d {
                    crate::encode_bytes(out, k);
                    v.encode_into(out);
                }
                out.push(b'e');
            }
        }
    }

    /// A byte-string value from anything byte-like.
    pub fn bytes(b: impl AsRef<[u8]>) -> Self {
        OwnedValue::Bytes(b.as_ref().to_vec())
    }
}

impl From<i64> for OwnedValue {
    fn from(i: i64) -> Self {
        OwnedValue::Int(i)
    }
}

impl From<&str> for OwnedValue {
    fn from(s: &str) -> Self {
        OwnedValue::Bytes(s.as_bytes().to_vec())
    }
}

impl From<String> for OwnedValue {
    fn from(s: String) -> Self {
        OwnedValue::Bytes(s.into_bytes())
    }
}

impl From<Vec<u8>> for OwnedValue {
    fn from(b: Vec<u8>) -> Self {
        OwnedValue::Bytes(b)
    }
}
