//! A full disk, for real: the box's data folder on a small tmpfs of its own, filled by another
//! process. Below the reserve the box refuses writes with 507 `storage_full` and changes nothing,
//! reads go on, and once space is freed it takes writes again without a restart. The ledger is
//! clean afterwards.
//!
//! Needs `mount` (root, or a sandbox that allows it); where that is refused the test says so and
//! checks nothing else.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use tongka_e2e::api::{BOSS_PASSWORD, Client, first_admin, problem, sign_in};
use tongka_e2e::{RunningBox, tongka_verify};

const MIB: u64 = 1 << 20;
const RESERVE: u64 = 24 * MIB;

/// A tmpfs of `size` mounted on a fresh folder, unmounted on drop.
struct SmallDisk {
    folder: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: u64) -> Result<SmallDisk, String> {
        let folder = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(folder.path())
            .output()
            .map_err(|e| e.to_string())?;
        if !mounted.status.success() {
            return Err(String::from_utf8_lossy(&mounted.stderr).into_owned());
        }
        Ok(SmallDisk { folder })
    }

    fn path(&self) -> &Path {
        self.folder.path()
    }

    fn available(&self) -> u64 {
        let stats = rustix::fs::statvfs(self.path()).unwrap();
        stats.f_bavail * stats.f_frsize
    }

    /// Takes all but `left` bytes of the disk with a file of its own, as a runaway log would.
    fn fill_leaving(&self, left: u64) -> PathBuf {
        let filler = self.path().join("filler");
        let file = std::fs::File::create(&filler).unwrap();
        let take = self.available() - left;
        rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, take).unwrap();
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}

/// The answer to signing up member number `n`, under its own Idempotency-Key.
fn sign_up(boss: &Client, n: u32) -> (u16, Value) {
    let body = format!(r#"{{"name":"会员{n}","phone":"139 0000 {n:04}"}}"#);
    let key = format!("full-{n}");
    boss.call_with(
        "POST",
        "/api/v1/members",
        &[("Idempotency-Key", &key)],
        Some(&body),
    )
}

fn member_count(boss: &Client) -> usize {
    let page = boss.ok("GET", "/api/v1/members?limit=100", None);
    page["members"].as_array().map_or(0, Vec::len)
}

/// Waits until the box's log says `what` (it reads its free space once a second).
fn until_logged(log: &Path, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(log).unwrap().contains(what) {
        assert!(Instant::now() < deadline, "the box never logged {what:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_full_disk_refuses_writes_keeps_reads_and_recovers_without_a_restart() {
    let disk = match SmallDisk::mount(96 * MIB) {
        Ok(disk) => disk,
        Err(why) => {
            eprintln!("skipped: cannot mount a tmpfs here ({why})");
            return;
        }
    };
    let data = disk.path().join("data");
    first_admin(&data);
    let log = disk.path().join("box.log");
    let running = RunningBox::start_logged(
        &data,
        &[],
        &[
            ("TONGKA_DATA_RESERVE_BYTES", Path::new(&RESERVE.to_string())),
            // A log that leaves room on a 96 MiB disk.
            (
                "TONGKA_LEDGER_WAL_BYTES_MAX",
                Path::new(&(8 * MIB).to_string()),
            ),
            ("TONGKA_HTTP_REQUESTS_PER_SECOND", Path::new("1000")),
            ("TONGKA_HTTP_REQUEST_BURST", Path::new("1000")),
        ],
        Some(&log),
    )
    .unwrap();
    let boss = sign_in(&running, "boss", BOSS_PASSWORD);
    let (status, body) = sign_up(&boss, 1);
    assert_eq!(status, 201, "{body}");

    // Half the reserve left: well within what the member's write itself needs.
    let filler = disk.fill_leaving(RESERVE / 2);
    until_logged(&log, "writes are refused");
    let (status, refused) = sign_up(&boss, 2);
    problem(status, &refused, 507, "storage_full");
    assert!(
        refused["title"].as_str().unwrap().contains("存储空间不足"),
        "{refused}"
    );
    let (status, english) = boss.call_with(
        "POST",
        "/api/v1/members",
        &[("Accept-Language", "en"), ("Idempotency-Key", "full-3")],
        Some(r#"{"name":"会员3","phone":"139 0000 0003"}"#),
    );
    problem(status, &english, 507, "storage_full");
    assert!(
        english["title"].as_str().unwrap().contains("disk"),
        "{english}"
    );
    // Reads go on, and the refused writes changed nothing.
    assert_eq!(member_count(&boss), 1);
    let (status, session) = boss.call("GET", "/api/v1/session", None);
    assert_eq!(status, 200, "{session}");
    assert_eq!(boss.ok("GET", "/api/v1/health", None)["storage"], "full");

    // Space freed: the same request is taken, once, without a restart.
    std::fs::remove_file(filler).unwrap();
    until_logged(&log, "writes are taken");
    let (status, created) = sign_up(&boss, 2);
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["name"], "会员2", "{created}");
    let (status, again) = sign_up(&boss, 2);
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["id"], created["id"]);
    assert_eq!(member_count(&boss), 2);
    assert_eq!(boss.ok("GET", "/api/v1/health", None)["storage"], "ok");

    assert!(running.terminate().unwrap().success());
    let verified = tongka_verify(&data).unwrap();
    assert!(verified.status.success(), "{verified:?}");
}
