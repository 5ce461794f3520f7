//! Lower-case hexadecimal text of bytes (digests, fingerprints, ETags), written straight
//! into one `String`.

/// `bytes` as lower-case hex, two digits each.
pub fn lower(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    push_lower(&mut text, bytes);
    text
}

/// Appends `bytes` to `text` as lower-case hex, two digits each.
pub fn push_lower(text: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        text.push(char::from(DIGITS[usize::from(b >> 4)]));
        text.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn two_lower_case_digits_per_byte() {
        assert_eq!(super::lower(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(super::lower(&[]), "");
        let mut text = String::from("x_");
        super::push_lower(&mut text, &[0xbe, 0xef]);
        assert_eq!(text, "x_beef");
    }
}
