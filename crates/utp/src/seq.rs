//! 16-bit sequence-number arithmetic with wrap-around (BEP 29 `seq_nr` and
//! `ack_nr` wrap at 65536).

/// True if `a` comes before `b` in wrap-around order (the distance from `a`
/// forward to `b` is less than half the number space).
pub fn seq_less(a: u16, b: u16) -> bool {
    a != b && b.wrapping_sub(a) < 0x8000
}

/// True if `a` comes before `b` or equals it.
pub fn seq_less_eq(a: u16, b: u16) -> bool {
    a == b || seq_less(a, b)
}

/// How many steps forward from `from` to `to` (wrapping).
pub fn seq_distance(from: u16, to: u16) -> u16 {
    to.wrapping_sub(from)
}

/// True if `a` comes before `b` in wrap-around order of 32-bit microsecond
/// timestamps.
pub fn ts_less(a: u32, b: u32) -> bool {
    a != b && b.wrapping_sub(a) < 0x8000_0000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordering_wraps() {
        assert!(seq_less(1, 2));
        assert!(!seq_less(2, 1));
        assert!(!seq_less(5, 5));
        assert!(seq_less(65535, 0));
        assert!(seq_less(65000, 10));
        assert!(!seq_less(10, 65000));
        assert!(seq_less_eq(7, 7));
        assert_eq!(seq_distance(65534, 2), 4);
        assert!(ts_less(u32::MAX - 5, 3));
        assert!(!ts_less(3, u32::MAX - 5));
    }
}
