//! The SFU's one UDP socket. Sending batches: what one peer's drain produces for one
//! address, in datagrams of one size (the last may be shorter), leaves in one `sendmsg`
//! with UDP segmentation offload (GSO), so a video frame of four packets takes one trip
//! down the network stack instead of four. Where the kernel or the device refuses GSO,
//! the wire falls back to one datagram per call for good.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use nix::errno::Errno;
use nix::sys::socket::{MsgFlags, SockaddrStorage, sendto};
use tokio::net::UdpSocket;

/// Socket buffers: a burst of video to many subscribers must not overflow them.
const SOCKET_BUFFER: usize = 4 << 20;
/// Datagrams in one GSO send (the kernel takes up to 64).
const MAX_SEGMENTS: usize = 64;
/// Bytes in one GSO send (an IP datagram's limit, less headers).
const MAX_BATCH_BYTES: usize = 60_000;

pub(super) struct Wire {
    pub socket: UdpSocket,
    gso: bool,
    batch: Vec<u8>,
    to: Option<SocketAddr>,
    segment: usize,
    count: usize,
    /// A shorter datagram ended the batch: only the last segment may be short.
    ended: bool,
}

impl Wire {
    pub fn bind(addr: SocketAddr) -> io::Result<Wire> {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::DGRAM,
            Some(socket2::Protocol::UDP),
        )?;
        let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
        let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        Ok(Wire {
            socket: UdpSocket::from_std(socket.into())?,
            gso: cfg!(target_os = "linux"),
            batch: Vec::with_capacity(MAX_BATCH_BYTES),
            to: None,
            segment: 0,
            count: 0,
            ended: false,
        })
    }

    /// Queue a datagram; it leaves at the next [`Wire::flush`] or sooner.
    pub fn send(&mut self, contents: &[u8], to: SocketAddr) {
        if !self.gso {
            return self.send_one(contents, to);
        }
        let joins = self.count > 0
            && self.to == Some(to)
            && !self.ended
            && contents.len() <= self.segment
            && self.count < MAX_SEGMENTS
            && self.batch.len() + contents.len() <= MAX_BATCH_BYTES;
        if !joins {
            self.flush();
            self.to = Some(to);
            self.segment = contents.len();
        } else if contents.len() < self.segment {
            self.ended = true;
        }
        self.batch.extend_from_slice(contents);
        self.count += 1;
    }

    /// Send what is queued.
    pub fn flush(&mut self) {
        let (count, to) = (self.count, self.to);
        self.count = 0;
        self.ended = false;
        let Some(to) = to else { return };
        let batch = std::mem::take(&mut self.batch);
        match count {
            0 => {}
            1 => self.send_one(&batch, to),
            _ => match self.send_segments(&batch, to) {
                Ok(_) => metrics::counter!("yishi_media_gso_sends_total").increment(1),
                Err(Errno::EIO | Errno::EINVAL | Errno::ENOPROTOOPT) => {
                    tracing::info!("UDP segmentation offload refused: one datagram a call");
                    self.gso = false;
                    for chunk in batch.chunks(self.segment.max(1)) {
                        self.send_one(chunk, to);
                    }
                }
                Err(_) => dropped(count),
            },
        }
        self.batch = batch;
        self.batch.clear();
    }

    /// One system call for the whole batch, cut into `segment`-sized datagrams by the
    /// kernel (or the device).
    #[cfg(target_os = "linux")]
    fn send_segments(&self, batch: &[u8], to: SocketAddr) -> nix::Result<usize> {
        use nix::sys::socket::{ControlMessage, sendmsg};
        let segment = u16::try_from(self.segment).unwrap_or(u16::MAX);
        sendmsg(
            self.socket.as_raw_fd(),
            &[io::IoSlice::new(batch)],
            &[ControlMessage::UdpGsoSegments(&segment)],
            MsgFlags::MSG_DONTWAIT,
            Some(&SockaddrStorage::from(to)),
        )
    }

    /// Elsewhere there is no segmentation offload: the caller falls back for good.
    #[cfg(not(target_os = "linux"))]
    fn send_segments(&self, _batch: &[u8], _to: SocketAddr) -> nix::Result<usize> {
        Err(Errno::ENOPROTOOPT)
    }

    /// Send without waiting: a full socket buffer drops the datagram, as the network would.
    /// (A system call of our own, like the batched send: tokio's `try_send_to` refuses
    /// until its reactor has seen the socket writable.)
    fn send_one(&self, contents: &[u8], to: SocketAddr) {
        let sent = sendto(
            self.socket.as_raw_fd(),
            contents,
            &SockaddrStorage::from(to),
            MsgFlags::MSG_DONTWAIT,
        );
        if sent.is_err() {
            dropped(1);
        }
    }
}

fn dropped(n: usize) {
    metrics::counter!("yishi_media_send_dropped_total").increment(n as u64);
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn receiver() -> (UdpSocket, SocketAddr) {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let addr = socket.local_addr().expect("addr");
        (socket, addr)
    }

    async fn received(socket: &UdpSocket, n: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = vec![0; 70_000];
        while out.len() < n {
            let wait =
                tokio::time::timeout(std::time::Duration::from_secs(2), socket.recv(&mut buf));
            match wait.await {
                Ok(Ok(len)) => out.push(buf[..len].to_vec()),
                _ => break,
            }
        }
        out
    }

    #[tokio::test]
    async fn batched_datagrams_arrive_whole_and_in_order() {
        let mut wire = Wire::bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
        let (a, a_addr) = receiver().await;
        let (b, b_addr) = receiver().await;
        // A frame of three full packets and a short last one, an audio packet to
        // another address between, then more to the first.
        let sent_a: Vec<Vec<u8>> = vec![vec![1; 1200], vec![2; 1200], vec![3; 1200], vec![4; 700]];
        for d in &sent_a[..2] {
            wire.send(d, a_addr);
        }
        wire.send(&[9; 90], b_addr);
        for d in &sent_a[2..] {
            wire.send(d, a_addr);
        }
        wire.send(&[5; 1200], a_addr);
        wire.flush();
        let got = received(&a, 5).await;
        let mut want = sent_a.clone();
        want.push(vec![5; 1200]);
        assert_eq!(got, want);
        assert_eq!(received(&b, 1).await, vec![vec![9; 90]]);
    }

    #[tokio::test]
    async fn a_long_run_is_split_into_sends_the_kernel_takes() {
        let mut wire = Wire::bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
        let (a, a_addr) = receiver().await;
        // More than one send takes (64 segments); few bytes, for the receiver's buffer.
        for i in 0..100u8 {
            wire.send(&[i; 200], a_addr);
        }
        wire.flush();
        let got = received(&a, 100).await;
        assert_eq!(got.len(), 100);
        assert!(
            got.iter()
                .enumerate()
                .all(|(i, d)| d.len() == 200 && d[0] == i as u8)
        );
    }
}
