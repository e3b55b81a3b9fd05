//! [`PIXEL_GIF`]: the 1×1 transparent GIF a tracking-pixel request answers with.
//!
//! Written out by hand from the GIF89a specification (W3C's copy of CompuServe's 1990 text)
//! rather than generated: 43 bytes do not justify an image crate, and the comments let a
//! reader check every field. All multi-byte numbers in GIF are little-endian.

/// A 1×1 GIF89a whose only pixel is fully transparent.
#[rustfmt::skip]
pub const PIXEL_GIF: &[u8] = &[
    // Header: signature "GIF" and version "89a" (89a is the version with extensions).
    b'G', b'I', b'F', b'8', b'9', b'a',
    // Logical Screen Descriptor: width 1, height 1 (u16 each).
    0x01, 0x00, 0x01, 0x00,
    // Packed fields: 1 = a global colour table follows; 000 = colour resolution 1 bit;
    // 0 = not sorted; 000 = table size 2^(0+1) = 2 entries.
    0b1000_0000,
    // Background colour index 0, pixel aspect ratio 0 (no information).
    0x00, 0x00,
    // Global colour table, 2 RGB entries: black and white (neither shows: see below).
    0x00, 0x00, 0x00,
    0xff, 0xff, 0xff,
    // Graphic Control Extension: introducer 0x21, label 0xF9, block size 4.
    0x21, 0xf9, 0x04,
    // Packed fields: 000 reserved, 000 no disposal specified, 0 no user input,
    // 1 = transparent colour index given.
    0b0000_0001,
    // Delay time 0 (u16), transparent colour index 0, block terminator.
    0x00, 0x00, 0x00, 0x00,
    // Image Descriptor: separator 0x2C, left 0, top 0, width 1, height 1 (u16 each).
    0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00,
    // Packed fields: no local colour table, not interlaced.
    0x00,
    // Image data: LZW minimum code size 2, so codes are 3 bits wide, clear = 4, end = 5.
    0x02,
    // One data sub-block of 2 bytes: the codes clear (100), index 0 (000), end (101) packed
    // from the least significant bit: 0b0100_0100, then 0b0000_0001.
    0x02, 0x44, 0x01,
    // Block terminator (a sub-block of length 0).
    0x00,
    // Trailer.
    0x3b,
];

#[cfg(test)]
mod tests {
    use super::*;

    fn u16_at(bytes: &[u8], at: usize) -> u16 {
        u16::from_le_bytes([bytes[at], bytes[at + 1]])
    }

    /// Skips data sub-blocks starting at `at`; returns the index after the terminator.
    fn skip_sub_blocks(bytes: &[u8], mut at: usize) -> usize {
        while bytes[at] != 0 {
            at += 1 + usize::from(bytes[at]);
        }
        at + 1
    }

    #[test]
    fn it_is_the_classic_43_byte_gif() {
        assert_eq!(PIXEL_GIF.len(), 43);
    }

    #[test]
    fn the_header_declares_one_transparent_pixel_and_the_blocks_end_in_the_trailer() {
        let gif = PIXEL_GIF;
        assert_eq!(&gif[..6], b"GIF89a");
        assert_eq!((u16_at(gif, 6), u16_at(gif, 8)), (1, 1));
        let packed = gif[10];
        assert_eq!(packed & 0x80, 0x80, "global colour table present");
        let table_len = 3 * (1 << ((packed & 0x07) + 1));
        let mut at = 13 + table_len;

        // Walk the blocks as a decoder does.
        let mut transparent_index = None;
        let mut image = None;
        loop {
            match gif[at] {
                0x21 if gif[at + 1] == 0xf9 => {
                    assert_eq!(gif[at + 2], 4, "graphic control block size");
                    if gif[at + 3] & 0x01 == 1 {
                        transparent_index = Some(gif[at + 6]);
                    }
                    at = skip_sub_blocks(gif, at + 2);
                }
                0x2c => {
                    assert_eq!((u16_at(gif, at + 5), u16_at(gif, at + 7)), (1, 1));
                    assert_eq!(gif[at + 9] & 0x80, 0, "no local colour table");
                    let min_code_size = gif[at + 10];
                    let data_start = at + 11;
                    at = skip_sub_blocks(gif, data_start);
                    image = Some((min_code_size, &gif[data_start..at]));
                }
                0x3b => break,
                other => panic!("unexpected block 0x{other:02x} at {at}"),
            }
        }
        assert_eq!(at, gif.len() - 1, "the trailer 0x3B is the last byte");
        assert_eq!(transparent_index, Some(0));

        // The LZW stream: 3-bit codes clear (4), pixel 0 (the transparent index), end (5).
        let (min_code_size, blocks) = image.expect("an image");
        assert_eq!(min_code_size, 2);
        let data = &blocks[1..blocks.len() - 1];
        let bits = u32::from(data[0]) | u32::from(data[1]) << 8;
        let codes: Vec<u32> = (0..3).map(|i| (bits >> (3 * i)) & 0b111).collect();
        assert_eq!(codes, [4, 0, 5]);
    }
}
