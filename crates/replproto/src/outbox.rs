//! Bytes waiting to be sent: small writes coalesce, large shared buffers pass through uncopied.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

/// Pieces at least this long are queued as they are instead of being copied.
const PASS_THROUGH: usize = 1024;

/// An output queue.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    sealed: VecDeque<Bytes>,
    current: BytesMut,
    len: usize,
}

impl Outbox {
    /// Appends bytes, copying them into the current buffer.
    pub(crate) fn extend(&mut self, data: &[u8]) {
        self.current.extend_from_slice(data);
        self.len += data.len();
    }

    /// The buffer small writes are appended to (for encoders); call [`Outbox::commit`] after.
    pub(crate) fn buffer(&mut self) -> &mut BytesMut {
        &mut self.current
    }

    /// Accounts for bytes written straight into [`Outbox::buffer`].
    pub(crate) fn commit(&mut self, before: usize) {
        self.len += self.current.len() - before;
    }

    /// Appends a shared buffer; large ones are queued without copying.
    pub(crate) fn push(&mut self, data: Bytes) {
        if data.len() < PASS_THROUGH {
            return self.extend(&data);
        }
        self.seal();
        self.len += data.len();
        self.sealed.push_back(data);
    }

    fn seal(&mut self) {
        if !self.current.is_empty() {
            self.sealed.push_back(self.current.split().freeze());
        }
    }

    /// The next bytes to send, oldest first.
    pub(crate) fn pop(&mut self) -> Option<Bytes> {
        let next = match self.sealed.pop_front() {
            Some(piece) => piece,
            None if !self.current.is_empty() => self.current.split().freeze(),
            None => return None,
        };
        self.len -= next.len();
        Some(next)
    }

    /// Bytes queued.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Drops everything queued.
    pub(crate) fn clear(&mut self) {
        self.sealed.clear();
        self.current.clear();
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_kept_and_large_pieces_are_not_copied() {
        let mut outbox = Outbox::default();
        outbox.extend(b"+FULLRESYNC x 0\r\n");
        let big = Bytes::from(vec![7u8; 4096]);
        outbox.push(big.clone());
        outbox.extend(b"tail");
        assert_eq!(outbox.len(), 17 + 4096 + 4);
        assert_eq!(&outbox.pop().unwrap()[..], b"+FULLRESYNC x 0\r\n");
        let passed = outbox.pop().unwrap();
        assert_eq!(passed.as_ptr(), big.as_ptr());
        assert_eq!(&outbox.pop().unwrap()[..], b"tail");
        assert!(outbox.pop().is_none() && outbox.is_empty());
    }
}
