//! The real binary's `serve` in a child process, its log read line by line as it comes.

use std::io::BufRead as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running `stsbridge --config CONFIG serve`; stopped (killed) when dropped.
pub struct Served {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Served {
    /// Start the binary on `config`, logging at `info` without colour.
    pub fn start(config: &Path) -> Served {
        let mut child = Command::new(env!("CARGO_BIN_EXE_stsbridge"))
            .arg("--config")
            .arg(config)
            .arg("serve")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start stsbridge serve");
        let stderr = child.stderr.take().expect("stderr");
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Served {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Read the log until a line contains `needle` (30 s at most); everything logged so far.
    pub fn wait_for(&mut self, needle: &str) -> String {
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(30)) {
            let found = line.contains(needle);
            self.seen.push(line);
            if found {
                return self.seen.join("\n");
            }
        }
        panic!("never logged {needle:?}:\n{}", self.seen.join("\n"));
    }

    pub fn pid(&self) -> rustix::process::Pid {
        rustix::process::Pid::from_child(&self.child)
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
