//! A reader that refuses a line longer than a limit, so a hostile input file (one 10 GB line)
//! cannot make `produce` buffer it whole: the JSONL and CSV readers read through it.

use std::io::{self, Read};

/// Passes bytes through and fails with [`io::ErrorKind::InvalidData`] once more than `limit`
/// bytes arrive without a newline. The error names the physical line (1-based).
pub struct LineLimited<R> {
    inner: R,
    limit: usize,
    /// Bytes of the current line seen so far (its newline not yet).
    current: usize,
    /// Newlines seen so far.
    newlines: u64,
    /// Set once the limit is passed: every later read fails (the bytes before the offending
    /// line were handed out first, so a buffered reader above still sees whole lines).
    over: bool,
}

impl<R: Read> LineLimited<R> {
    pub fn new(inner: R, limit: usize) -> Self {
        Self {
            inner,
            limit,
            current: 0,
            newlines: 0,
            over: false,
        }
    }
}

impl<R: Read> Read for LineLimited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.over {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "line {} is longer than the line-bytes limit of {} bytes (raise it with \
                     --limit line-bytes=N)",
                    self.newlines + 1,
                    self.limit
                ),
            ));
        }
        let n = self.inner.read(buf)?;
        let mut passed = 0;
        for chunk in buf[..n].split_inclusive(|b| *b == b'\n') {
            let ends_line = chunk.last() == Some(&b'\n');
            let content = chunk.len() - usize::from(ends_line);
            if self.current.saturating_add(content) > self.limit {
                // Hand out what came before this line; the next read reports it.
                self.over = true;
                if passed == 0 {
                    return self.read(buf);
                }
                return Ok(passed);
            }
            self.current += content;
            passed += chunk.len();
            if ends_line {
                self.current = 0;
                self.newlines += 1;
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(text: &str, limit: usize, chunk: usize) -> io::Result<String> {
        struct Trickle<'a>(&'a [u8], usize);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(buf.len()).min(self.1);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut out = String::new();
        LineLimited::new(Trickle(text.as_bytes(), chunk), limit).read_to_string(&mut out)?;
        Ok(out)
    }

    #[test]
    fn lines_up_to_the_limit_pass_and_a_longer_one_is_refused_with_its_number() {
        for chunk in [1, 3, 1024] {
            assert_eq!(
                read_all("abc\nde\nfgh", 3, chunk).expect("fits"),
                "abc\nde\nfgh"
            );
            let e = read_all("abc\nde\nfghi\n", 3, chunk).expect_err("line 3 is 4 bytes");
            assert_eq!(e.kind(), io::ErrorKind::InvalidData);
            assert!(e.to_string().starts_with("line 3 is longer"), "{e}");
        }
    }
}
