//! Progress of long jobs on a terminal; hidden when stderr is not one, so
//! logs and CI output stay clean.

use std::io::IsTerminal;

/// A progress bar over `total` items, labelled `what`.
pub fn bar(total: u64, what: &str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg}: {wide_bar} {pos}/{len} ({eta})")
            .expect("a valid template"),
    );
    bar.set_message(what.to_owned());
    bar
}

/// Progress as plain lines on stderr, for when it is not a terminal but
/// progress was asked for (a log file): one line per percent done.
pub struct LineProgress {
    total: u64,
    done: u64,
    last_percent: u64,
    what: String,
    started: std::time::Instant,
}

impl LineProgress {
    pub fn new(total: u64, what: &str) -> LineProgress {
        LineProgress {
            total: total.max(1),
            done: 0,
            last_percent: 0,
            what: what.to_owned(),
            started: std::time::Instant::now(),
        }
    }

    pub fn inc(&mut self) {
        self.done += 1;
        let percent = self.done * 100 / self.total;
        if percent > self.last_percent {
            self.last_percent = percent;
            eprintln!(
                "{}: {}/{} ({percent} %, {:.0} s)",
                self.what,
                self.done,
                self.total,
                self.started.elapsed().as_secs_f64()
            );
        }
    }
}
