//! The SFU's one UDP socket. Sending batches twice over: what one peer's drain produces
//! for one address, in datagrams of one size (the last may be shorter), is one message
//! with UDP segmentation offload (GSO), so the packets of a video frame that arrived
//! together take one trip down the network stack; and the messages of many peers leave
//! together in one `sendmmsg`, so a packet forwarded to 200 subscribers costs a handful
//! of system calls instead of 200. Where the kernel or the device refuses GSO, the wire
//! falls back to one datagram a message for good; where there is no `sendmmsg` (not
//! Linux), to one datagram a call.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use nix::errno::Errno;
use nix::sys::socket::{MsgFlags, SockaddrStorage, sendto};
use tokio::net::UdpSocket;

/// Socket buffers: a burst of video to many subscribers must not overflow them.
const SOCKET_BUFFER: usize = 4 << 20;
/// Datagrams in one GSO message (the kernel takes up to 64).
const MAX_SEGMENTS: usize = 64;
/// Bytes in one GSO message (an IP datagram's limit, less headers).
const MAX_BATCH_BYTES: usize = 60_000;
/// Messages queued before they leave on their own: one `sendmmsg` saves nearly all the
/// per-call cost at this size, and the first subscribers need not wait for the last.
const MAX_MESSAGES: usize = 64;

/// Datagrams to one address, back to back in the queue: several of `segment` bytes
/// (the last may be shorter) sent with GSO, or a single one.
#[derive(Debug)]
struct Message {
    to: SocketAddr,
    start: usize,
    end: usize,
    segment: usize,
    count: usize,
    /// A shorter datagram ended it: only the last segment may be short.
    ended: bool,
}

impl Message {
    fn len(&self) -> usize {
        self.end - self.start
    }
}

/// How many of the first `messages` one call can send, and the GSO segment size it
/// carries: every message of several datagrams must have that segment size, and every
/// single datagram must fit in it (the kernel sends a datagram no longer than the
/// segment size as it is). Order is kept: the call ends before the first that does
/// not fit.
fn call_size(messages: &[Message]) -> (usize, Option<usize>) {
    let mut segment = None;
    let mut longest_single = 0;
    for (i, m) in messages.iter().enumerate().take(MAX_MESSAGES) {
        let fits = if m.count > 1 {
            match segment {
                None if longest_single <= m.segment => {
                    segment = Some(m.segment);
                    true
                }
                None => false,
                Some(s) => s == m.segment,
            }
        } else {
            longest_single = longest_single.max(m.len());
            segment.is_none_or(|s| m.len() <= s)
        };
        if !fits {
            return (i, segment);
        }
    }
    (messages.len().min(MAX_MESSAGES), segment)
}

pub(super) struct Wire {
    pub socket: UdpSocket,
    gso: bool,
    /// The queued datagrams' bytes.
    queued: Vec<u8>,
    messages: Vec<Message>,
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
            queued: Vec::new(),
            messages: Vec::with_capacity(MAX_MESSAGES),
        })
    }

    /// Queue a datagram; it leaves at the next [`Wire::flush`] or sooner.
    pub fn send(&mut self, contents: &[u8], to: SocketAddr) {
        let len = contents.len();
        let joined = match self.messages.last_mut() {
            Some(m)
                if self.gso
                    && m.to == to
                    && !m.ended
                    && len <= m.segment
                    && m.count < MAX_SEGMENTS
                    && m.end - m.start + len <= MAX_BATCH_BYTES =>
            {
                m.ended = len < m.segment;
                m.count += 1;
                m.end += len;
                true
            }
            _ => false,
        };
        if !joined {
            if self.messages.len() >= MAX_MESSAGES {
                self.flush();
            }
            let start = self.queued.len();
            self.messages.push(Message {
                to,
                start,
                end: start + len,
                segment: len,
                count: 1,
                ended: false,
            });
        }
        self.queued.extend_from_slice(contents);
    }

    /// Send what is queued, in order, in as few calls as the kernel takes. A message
    /// the kernel refuses is dropped (as the network would), not the ones after it.
    pub fn flush(&mut self) {
        let messages = std::mem::take(&mut self.messages);
        let mut rest = messages.as_slice();
        while !rest.is_empty() {
            let (n, segment) = call_size(rest);
            match self.send_many(&rest[..n], segment) {
                Ok(sent) => rest = &rest[sent.clamp(1, n)..],
                Err(Errno::EIO | Errno::EINVAL | Errno::ENOPROTOOPT) if segment.is_some() => {
                    tracing::info!("UDP segmentation offload refused: one datagram a message");
                    self.gso = false;
                    for m in rest {
                        self.send_each(m);
                    }
                    break;
                }
                Err(_) => {
                    dropped(rest[0].count);
                    rest = &rest[1..];
                }
            }
        }
        let mut messages = messages;
        messages.clear();
        self.messages = messages;
        self.queued.clear();
    }

    /// One system call for `messages`, with `segment` as the GSO segment size if set:
    /// returns how many left.
    #[cfg(target_os = "linux")]
    fn send_many(&self, messages: &[Message], segment: Option<usize>) -> nix::Result<usize> {
        use nix::sys::socket::{ControlMessage, MultiHeaders, sendmmsg};
        let slices: Vec<[io::IoSlice; 1]> = messages
            .iter()
            .map(|m| [io::IoSlice::new(&self.queued[m.start..m.end])])
            .collect();
        let addrs: Vec<Option<SockaddrStorage>> = messages
            .iter()
            .map(|m| Some(SockaddrStorage::from(m.to)))
            .collect();
        let size = segment.map_or(0, |s| u16::try_from(s).unwrap_or(u16::MAX));
        let cmsgs = [ControlMessage::UdpGsoSegments(&size)];
        let (cmsgs, space) = match segment {
            Some(_) => (&cmsgs[..], Some(nix::cmsg_space!(u16))),
            None => (&cmsgs[..0], None),
        };
        let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(messages.len(), space);
        let sent = sendmmsg(
            self.socket.as_raw_fd(),
            &mut headers,
            &slices,
            addrs,
            cmsgs,
            MsgFlags::MSG_DONTWAIT,
        )?
        .count();
        let batched = messages.iter().take(sent).filter(|m| m.count > 1).count();
        if batched > 0 {
            metrics::counter!("yishi_media_gso_sends_total").increment(batched as u64);
        }
        Ok(sent)
    }

    /// Elsewhere one datagram a call (and no GSO: every message is a single datagram).
    #[cfg(not(target_os = "linux"))]
    fn send_many(&self, messages: &[Message], _segment: Option<usize>) -> nix::Result<usize> {
        self.send_each(&messages[0]);
        Ok(1)
    }

    /// A message's datagrams one by one.
    fn send_each(&self, m: &Message) {
        for chunk in self.queued[m.start..m.end].chunks(m.segment.max(1)) {
            self.send_one(chunk, m.to);
        }
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

    fn message(segment: usize, count: usize, last: usize) -> Message {
        let end = segment * (count - 1) + last;
        Message {
            to: "127.0.0.1:9".parse().expect("addr"),
            start: 0,
            end,
            segment,
            count,
            ended: last < segment,
        }
    }

    #[test]
    fn a_call_takes_messages_in_order_while_they_share_a_segment_size() {
        let audio = || message(90, 1, 90);
        let frame = |segment| message(segment, 4, 700);
        // Audio fits in the frames' segment size: one call for all.
        let mixed = [
            audio(),
            frame(1200),
            audio(),
            frame(1200),
            message(1200, 1, 1200),
        ];
        assert_eq!(call_size(&mixed), (5, Some(1200)));
        // Singles only: no segment size.
        assert_eq!(call_size(&[audio(), audio()]), (2, None));
        // A frame of another segment size ends the call, and so does a single longer
        // than the segment size; a long single before any frame is fine.
        assert_eq!(
            call_size(&[audio(), frame(1200), frame(1100)]),
            (2, Some(1200))
        );
        assert_eq!(
            call_size(&[frame(1000), message(1100, 1, 1100)]),
            (1, Some(1000))
        );
        assert_eq!(call_size(&[message(1100, 1, 1100), frame(1000)]), (1, None));
        // At most MAX_MESSAGES a call.
        let many: Vec<Message> = (0..MAX_MESSAGES + 5).map(|_| audio()).collect();
        assert_eq!(call_size(&many), (MAX_MESSAGES, None));
    }

    #[tokio::test]
    async fn many_subscribers_get_their_frames_whole_and_in_order() {
        let mut wire = Wire::bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
        // More subscribers than one call takes, each sent a frame and an audio packet,
        // as a burst of drains does; the queue sends on its own when it is full.
        let mut subscribers = Vec::new();
        for _ in 0..MAX_MESSAGES + 10 {
            subscribers.push(receiver().await);
        }
        for (i, (_, addr)) in subscribers.iter().enumerate() {
            let tag = i as u8;
            for d in [
                vec![tag; 1200],
                vec![tag; 1200],
                vec![tag; 500],
                vec![tag; 90],
            ] {
                wire.send(&d, *addr);
            }
        }
        wire.flush();
        for (i, (socket, _)) in subscribers.iter().enumerate() {
            let tag = i as u8;
            let got = received(socket, 4).await;
            let want = vec![
                vec![tag; 1200],
                vec![tag; 1200],
                vec![tag; 500],
                vec![tag; 90],
            ];
            assert_eq!(got, want, "subscriber {i}");
        }
    }
}
