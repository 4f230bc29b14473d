//! Real VP8 clips for the media bots ([`crate::media_peer::PeerOptions::video_clip`]),
//! encoded by ffmpeg (libvpx), optionally with each frame's number drawn into it so that
//! whoever decodes the video further down (the livestream's HLS) can tell which frame
//! it sees.
//!
//! The number is drawn as [`BITS`] cells in a row along the top, each white when its bit
//! is set, and a second row beneath with the complement (white when the bit is clear),
//! on a black band: a reader decides each bit by comparing the two cells, and a frame
//! where any pair is not clearly apart is unreadable rather than misread. The geometry
//! scales with the clip's width, so a decoder reads it back at the clip's size.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use anyhow::{Context, bail};
use bytes::Bytes;

/// Bits of the drawn frame number: a clip of at most 65,536 frames (36 min at 30/s).
pub const BITS: u32 = 16;

/// A program of Debian's `ffmpeg` package (`ffmpeg`, `ffprobe`), or why not.
pub fn tool(name: &str) -> anyhow::Result<Command> {
    let found = Command::new(name)
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        bail!(
            "`{name}` is not installed: it needs Debian's ffmpeg \
             (apt-get install --no-install-recommends ffmpeg)"
        );
    }
    Ok(Command::new(name))
}

/// How a clip is made.
#[derive(Debug, Clone, Copy)]
pub struct ClipSpec {
    pub width: u32,
    pub height: u32,
    /// Frames at 30 per second.
    pub frames: usize,
    /// A key frame every this many frames (1: every frame is one, so the bot answers a
    /// key frame request at once, as a browser's encoder does).
    pub keyframe_every: usize,
    /// Draw each frame's number (see the module's header).
    pub numbered: bool,
}

/// A test pattern (ffmpeg's `testsrc`, moving) encoded to VP8 by libvpx: the frames of
/// its IVF file, the first a key frame. Written to `dir/clip.ivf` on the way.
pub fn vp8_clip(dir: &Path, spec: ClipSpec) -> anyhow::Result<Arc<[Bytes]>> {
    let path = dir.join("clip.ivf");
    let mut filter = format!("testsrc=size={}x{}:rate=30", spec.width, spec.height);
    if spec.numbered {
        filter.push(',');
        filter.push_str(&number_filter(spec.width));
    }
    let out = tool("ffmpeg")?
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg(filter)
        .arg("-frames:v")
        .arg(spec.frames.to_string())
        .args(["-c:v", "libvpx", "-g"])
        .arg(spec.keyframe_every.max(1).to_string())
        .args(["-b:v", "1000k", "-deadline", "realtime", "-cpu-used", "8"])
        .args(["-f", "ivf"])
        .arg(&path)
        .output()
        .context("running ffmpeg")?;
    if !out.status.success() {
        bail!(
            "ffmpeg could not encode the clip: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let frames = parse_ivf(&std::fs::read(&path)?)?;
    if frames.len() != spec.frames {
        bail!(
            "the clip has {} frames, {} were asked for",
            frames.len(),
            spec.frames
        );
    }
    Ok(frames.into())
}

/// The frames of an IVF file (a 32-byte header of its own length, then each frame after a
/// 12-byte header: its length, little-endian, and a timestamp).
pub fn parse_ivf(ivf: &[u8]) -> anyhow::Result<Vec<Bytes>> {
    if ivf.len() < 32 || &ivf[..4] != b"DKIF" {
        bail!("not an IVF file");
    }
    let header = usize::from(u16::from_le_bytes([ivf[6], ivf[7]]));
    let mut frames = Vec::new();
    let mut at = header;
    while at + 12 <= ivf.len() {
        let len = u32::from_le_bytes([ivf[at], ivf[at + 1], ivf[at + 2], ivf[at + 3]]) as usize;
        at += 12;
        let Some(frame) = ivf.get(at..at + len) else {
            bail!("the IVF file ends inside a frame");
        };
        frames.push(Bytes::copy_from_slice(frame));
        at += len;
    }
    Ok(frames)
}

/// Where the cells are, for a frame `width` wide: (cell size, inset of a box in its cell).
fn geometry(width: u32) -> (u32, u32) {
    let cell = (width / BITS).max(8);
    (cell, cell / 8)
}

/// ffmpeg filters drawing the frame number `n` (lavfi's frame counter) over the top of
/// the picture: a black band two cells high, a white box per set bit in the first row
/// and per clear bit in the second.
pub fn number_filter(width: u32) -> String {
    let (cell, inset) = geometry(width);
    let side = cell - 2 * inset;
    let mut f = format!(
        "drawbox=x=0:y=0:w={width}:h={}:color=black:t=fill",
        2 * cell
    );
    for bit in 0..BITS {
        let x = bit * cell + inset;
        let set = format!("mod(floor(n/{}),2)", 1u64 << bit);
        for (row, when) in [(0, set.clone()), (1, format!("1-{set}"))] {
            let y = row * cell + inset;
            f.push_str(&format!(
                ",drawbox=x={x}:y={y}:w={side}:h={side}:color=white:t=fill:enable='{when}'"
            ));
        }
    }
    f
}

/// The frame number drawn by [`number_filter`] in a grey (one byte per pixel) picture of
/// `width` × `height`, or `None` where a cell pair is not clearly apart.
pub fn read_number(gray: &[u8], width: u32, height: u32) -> Option<u32> {
    let (cell, _) = geometry(width);
    if gray.len() < (width * height) as usize || 2 * cell > height || BITS * cell > width {
        return None;
    }
    // The mean of the middle half of a cell.
    let mean = |col: u32, row: u32| -> i64 {
        let (x0, y0) = (col * cell + cell / 4, row * cell + cell / 4);
        let mut sum = 0i64;
        let mut count = 0i64;
        for y in y0..y0 + cell / 2 {
            for x in x0..x0 + cell / 2 {
                sum += i64::from(gray[(y * width + x) as usize]);
                count += 1;
            }
        }
        sum / count.max(1)
    };
    let mut n = 0u32;
    for bit in 0..BITS {
        let (set, clear) = (mean(bit, 0), mean(bit, 1));
        if (set - clear).abs() < 96 {
            return None;
        }
        if set > clear {
            n |= 1 << bit;
        }
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What [`number_filter`] draws, painted directly.
    fn paint(n: u32, width: u32, height: u32) -> Vec<u8> {
        let (cell, inset) = geometry(width);
        let mut gray = vec![128u8; (width * height) as usize];
        for y in 0..2 * cell {
            for x in 0..width {
                gray[(y * width + x) as usize] = 16;
            }
        }
        for bit in 0..BITS {
            let row = if n & (1 << bit) != 0 { 0 } else { 1 };
            for y in row * cell + inset..(row + 1) * cell - inset {
                for x in bit * cell + inset..(bit + 1) * cell - inset {
                    gray[(y * width + x) as usize] = 235;
                }
            }
        }
        gray
    }

    #[test]
    fn a_drawn_number_reads_back() {
        for n in [0, 1, 2, 1234, 40_000, 65_535] {
            assert_eq!(read_number(&paint(n, 640, 360), 640, 360), Some(n));
        }
    }

    #[test]
    fn a_picture_without_the_band_is_unreadable_not_misread() {
        assert_eq!(read_number(&vec![128u8; 640 * 360], 640, 360), None);
        assert_eq!(read_number(&[0u8; 10], 640, 360), None);
        let mut smeared = paint(7, 640, 360);
        // One cell pair washed out to grey, as a blurred decode might.
        for y in 0..80 {
            for x in 40..80 {
                smeared[y * 640 + x] = 128;
            }
        }
        assert_eq!(read_number(&smeared, 640, 360), None);
    }

    #[test]
    fn the_filter_draws_two_rows_per_bit() {
        let f = number_filter(640);
        assert!(f.starts_with("drawbox=x=0:y=0:w=640:h=80:color=black"));
        assert_eq!(f.matches(":color=white:").count(), 2 * BITS as usize);
        assert!(f.contains("enable='1-mod(floor(n/32768),2)'"));
    }

    #[test]
    fn ivf_frames_are_split_and_a_cut_file_refused() {
        let mut ivf = b"DKIF\0\0\x20\0".to_vec();
        ivf.resize(32, 0);
        for frame in [&b"abc"[..], b"de"] {
            ivf.extend((frame.len() as u32).to_le_bytes());
            ivf.extend([0u8; 8]);
            ivf.extend(frame);
        }
        let frames = parse_ivf(&ivf).unwrap();
        assert_eq!(frames, vec![Bytes::from("abc"), Bytes::from("de")]);
        ivf.truncate(ivf.len() - 1);
        assert!(parse_ivf(&ivf).is_err());
        assert!(parse_ivf(b"RIFF").is_err());
    }
}
