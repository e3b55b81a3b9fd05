//! Splits a body that arrives in chunks into numbered lines of at most a given length, so an
//! import of any size is read holding one chunk and one line, never the whole body.
//!
//! Lines end with `\n` (a `\r` before it is dropped); the last one may end with the body
//! instead. Numbers start at 1 and count every line, blank ones too, so that they are the
//! numbers an editor shows. A line longer than the limit is an error as soon as that is
//! known, without waiting for its end.

/// A line over the limit: its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineTooLong {
    pub number: u64,
}

pub struct LineSplitter {
    buffer: Vec<u8>,
    /// Where the next line starts in `buffer`.
    start: usize,
    /// How far past `start` has been searched for a `\n` without finding one.
    searched: usize,
    max_len: usize,
    /// The number of the last line handed out.
    number: u64,
}

impl LineSplitter {
    /// Lines of at most `max_len` bytes, not counting their line ending.
    pub fn new(max_len: usize) -> LineSplitter {
        LineSplitter {
            buffer: Vec::new(),
            start: 0,
            searched: 0,
            max_len,
            number: 0,
        }
    }

    /// Adds the next chunk of the body. Take every line with [`LineSplitter::next_line`]
    /// before the next push.
    pub fn push(&mut self, chunk: &[u8]) {
        if self.start > 0 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        self.buffer.extend_from_slice(chunk);
    }

    /// The next whole line and its number; `None` when the rest has no line ending yet.
    pub fn next_line(&mut self) -> Option<Result<(u64, &[u8]), LineTooLong>> {
        let rest = &self.buffer[self.start..];
        let Some(end) = rest[self.searched..]
            .iter()
            .position(|byte| *byte == b'\n')
            .map(|found| self.searched + found)
        else {
            self.searched = rest.len();
            // Without its `\r\n` a line may hold `max_len` bytes, so allow two more.
            return (rest.len() > self.max_len + 1).then_some(Err(LineTooLong {
                number: self.number + 1,
            }));
        };
        let line_start = self.start;
        self.start += end + 1;
        self.searched = 0;
        self.line(line_start, line_start + end)
    }

    /// At the end of the body: the last line, when it has no line ending.
    pub fn finish(&mut self) -> Option<Result<(u64, &[u8]), LineTooLong>> {
        let (start, end) = (self.start, self.buffer.len());
        if start == end {
            return None;
        }
        self.start = end;
        self.searched = 0;
        self.line(start, end)
    }

    fn line(&mut self, start: usize, end: usize) -> Option<Result<(u64, &[u8]), LineTooLong>> {
        self.number += 1;
        let mut line = &self.buffer[start..end];
        if let Some(stripped) = line.strip_suffix(b"\r") {
            line = stripped;
        }
        if line.len() > self.max_len {
            return Some(Err(LineTooLong {
                number: self.number,
            }));
        }
        Some(Ok((self.number, line)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every line of `chunks`, as text, or the first error.
    fn split(max_len: usize, chunks: &[&str]) -> Result<Vec<(u64, String)>, LineTooLong> {
        let mut splitter = LineSplitter::new(max_len);
        let mut lines = Vec::new();
        let mut take = |line: Option<Result<(u64, &[u8]), LineTooLong>>| match line {
            None => Ok(false),
            Some(Err(err)) => Err(err),
            Some(Ok((number, line))) => {
                lines.push((number, String::from_utf8_lossy(line).into_owned()));
                Ok(true)
            }
        };
        for chunk in chunks {
            splitter.push(chunk.as_bytes());
            while take(splitter.next_line())? {}
        }
        take(splitter.finish())?;
        Ok(lines)
    }

    fn numbered(lines: &[&str]) -> Vec<(u64, String)> {
        (1..)
            .zip(lines.iter().map(|line| (*line).to_owned()))
            .collect()
    }

    #[test]
    fn lines_are_whole_whatever_the_chunks() {
        let expected = numbered(&["one", "", "three", "four"]);
        assert_eq!(split(10, &["one\n\nthree\nfour"]), Ok(expected.clone()));
        assert_eq!(split(10, &["one\n\nthree\nfour\n"]), Ok(expected.clone()));
        assert_eq!(
            split(10, &["o", "ne\n", "\nth", "ree", "\nfour\n"]),
            Ok(expected.clone())
        );
        let bytes: Vec<String> = "one\n\nthree\nfour".chars().map(String::from).collect();
        let bytes: Vec<&str> = bytes.iter().map(String::as_str).collect();
        assert_eq!(split(10, &bytes), Ok(expected));
    }

    #[test]
    fn crlf_endings_and_an_empty_body() {
        assert_eq!(split(10, &["a\r\nb\r\n"]), Ok(numbered(&["a", "b"])));
        assert_eq!(split(10, &[]), Ok(vec![]));
        assert_eq!(split(10, &["", ""]), Ok(vec![]));
    }

    #[test]
    fn a_line_over_the_limit_is_refused_by_number_before_its_end() {
        assert_eq!(split(3, &["abc\r\n"]), Ok(numbered(&["abc"])));
        assert_eq!(split(3, &["abc\nabcd\n"]), Err(LineTooLong { number: 2 }));
        assert_eq!(split(3, &["abc\nabcd"]), Err(LineTooLong { number: 2 }));
        // Known as soon as more than the limit (and a `\r`) arrived with no line ending.
        let mut splitter = LineSplitter::new(3);
        splitter.push(b"ok\nabcd");
        assert!(matches!(splitter.next_line(), Some(Ok((1, b"ok")))));
        assert_eq!(splitter.next_line(), None);
        splitter.push(b"e");
        assert_eq!(splitter.next_line(), Some(Err(LineTooLong { number: 2 })));
    }

    #[test]
    fn memory_holds_one_line_and_one_chunk() {
        let mut splitter = LineSplitter::new(8);
        let mut last = 0;
        for _ in 0..10_000 {
            for chunk in [&b"1234567\n12"[..], b"3\n"] {
                splitter.push(chunk);
                while let Some(line) = splitter.next_line() {
                    last = line.expect("short lines").0;
                }
            }
        }
        assert_eq!(last, 20_000);
        assert!(
            splitter.buffer.capacity() < 64,
            "{}",
            splitter.buffer.capacity()
        );
    }
}
