//! Standard base64 (with padding), enough to speak gRPC-web text by hand.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes a text-mode body: the server may encode each frame on its own, so padding can
/// occur in the middle; every 4-character group is decoded separately.
pub fn decode_chunks(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let symbols: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    for group in symbols.chunks(4) {
        let mut n = 0u32;
        let mut pad = 0;
        for &c in group {
            let v = match ALPHABET.iter().position(|&a| a == c) {
                Some(v) => v as u32,
                None => {
                    pad += 1;
                    0
                }
            };
            n = (n << 6) | v;
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    out
}
