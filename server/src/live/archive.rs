//! The recording of the stage (录像): when a livestream's stretch ends, the worker's
//! segments (whole MPEG-TS files, numbered in order across restarts) are joined into one
//! MPEG-TS file in the room's archive directory, hashed with SHA-256 as they are copied,
//! and the hash written beside it (`NAME.sha256`, as `sha256sum` prints it) and into the
//! room's record. Blocking file work: run it on a blocking thread.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use yishi_protocol::{Millis, Recording};

/// The recording of a stretch that began at `since`: `stage-<ms since the epoch>.ts`.
pub(crate) fn recording_name(since: Millis) -> String {
    format!("stage-{}.ts", since.0)
}

/// Whether `file` names a recording (never a path, never its `.sha256` or a partial).
pub fn is_recording_name(file: &str) -> bool {
    file.strip_prefix("stage-")
        .and_then(|f| f.strip_suffix(".ts"))
        .is_some_and(|n| !n.is_empty() && n.len() <= 20 && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The whole segments in `dir` (`segN.ts`), in their order.
fn segments(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found: Vec<(u64, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(n) = name
            .to_str()
            .and_then(|n| n.strip_prefix("seg"))
            .and_then(|n| n.strip_suffix(".ts"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        found.push((n, entry.path()));
    }
    found.sort();
    Ok(found.into_iter().map(|(_, p)| p).collect())
}

/// Join the segments of `dir` into `into/name`, hashing them; `None` if there are none.
/// Written under a temporary name and renamed once whole, so a file by a recording's
/// name is always complete.
pub(crate) fn archive(dir: &Path, into: &Path, name: &str) -> std::io::Result<Option<Recording>> {
    let parts = segments(dir)?;
    if parts.is_empty() {
        return Ok(None);
    }
    std::fs::create_dir_all(into)?;
    let partial = into.join(format!("{name}.partial"));
    let mut out = std::io::BufWriter::new(std::fs::File::create(&partial)?);
    let mut hash = Sha256::new();
    let mut bytes = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    for part in parts {
        let mut file = std::fs::File::open(part)?;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
            out.write_all(&buf[..n])?;
            bytes += n as u64;
        }
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    let sha256 = hex::encode(hash.finalize());
    std::fs::rename(&partial, into.join(name))?;
    std::fs::write(
        into.join(format!("{name}.sha256")),
        format!("{sha256}  {name}\n"),
    )?;
    Ok(Some(Recording {
        file: name.to_owned(),
        bytes,
        sha256,
    }))
}

/// Remove recordings (and their hashes) older than `keep` from every room's directory
/// under `dir`; returns how many recordings went.
pub fn prune_recordings(dir: &Path, keep: Duration) -> std::io::Result<usize> {
    let Some(before) = SystemTime::now().checked_sub(keep) else {
        return Ok(0);
    };
    let rooms = match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        rooms => rooms?,
    };
    let mut removed = 0;
    for room in rooms {
        let room = room?.path();
        if !room.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&room)? {
            let file = file?;
            let name = file.file_name();
            let Some(name) = name.to_str().filter(|n| is_recording_name(n)) else {
                continue;
            };
            if file.metadata()?.modified()? < before {
                std::fs::remove_file(file.path())?;
                let _ = std::fs::remove_file(room.join(format!("{name}.sha256")));
                removed += 1;
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn segments_are_joined_in_their_order_and_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let into = dir.path().join("archive");
        for (n, body) in [(10, "c"), (2, "b"), (1, "a")] {
            std::fs::write(dir.path().join(format!("seg{n}.ts")), body).unwrap();
        }
        // Not segments: a partial one, the playlist.
        std::fs::write(dir.path().join("seg11.ts.tmp"), "x").unwrap();
        std::fs::write(dir.path().join("index.m3u8"), "x").unwrap();
        let name = recording_name(Millis(42));
        let recording = archive(dir.path(), &into, &name).unwrap().unwrap();
        assert_eq!(recording.file, "stage-42.ts");
        assert_eq!(std::fs::read_to_string(into.join(&name)).unwrap(), "abc");
        assert_eq!(recording.bytes, 3);
        assert_eq!(recording.sha256, hex::encode(Sha256::digest(b"abc")));
        let line = std::fs::read_to_string(into.join("stage-42.ts.sha256")).unwrap();
        assert_eq!(line, format!("{}  stage-42.ts\n", recording.sha256));
        assert!(!into.join("stage-42.ts.partial").exists());
    }

    #[test]
    fn no_segments_no_recording() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            archive(dir.path(), &dir.path().join("a"), "stage-1.ts").unwrap(),
            None
        );
    }

    #[test]
    fn only_recordings_are_named() {
        assert!(is_recording_name("stage-1733480000000.ts"));
        for name in [
            "stage-.ts",
            "stage-1.ts.sha256",
            "stage-1.ts.partial",
            "../stage-1.ts",
            "seg1.ts",
            "stage-1a.ts",
        ] {
            assert!(!is_recording_name(name), "{name}");
        }
    }

    #[test]
    fn recordings_past_their_retention_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let room = dir.path().join("666f72756d");
        std::fs::create_dir_all(&room).unwrap();
        std::fs::write(room.join("stage-1.ts"), "x").unwrap();
        std::fs::write(room.join("stage-1.ts.sha256"), "x").unwrap();
        let two_hours_ago = SystemTime::now() - Duration::from_secs(7200);
        std::fs::File::options()
            .write(true)
            .open(room.join("stage-1.ts"))
            .unwrap()
            .set_modified(two_hours_ago)
            .unwrap();
        assert_eq!(
            prune_recordings(dir.path(), Duration::from_secs(3 * 3600)).unwrap(),
            0
        );
        assert!(room.join("stage-1.ts").exists());
        assert_eq!(
            prune_recordings(dir.path(), Duration::from_secs(3600)).unwrap(),
            1
        );
        assert!(!room.join("stage-1.ts").exists());
        assert!(!room.join("stage-1.ts.sha256").exists());
    }
}
