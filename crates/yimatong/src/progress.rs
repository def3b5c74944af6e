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

/// A counter for a job whose total is unknown (events generated), labelled
/// `what`; hidden when stderr is not a terminal.
pub fn counter(what: &str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg}: {human_pos} ({per_sec})")
            .expect("a valid template"),
    );
    bar.set_message(what.to_owned());
    bar
}

/// [`ymt_node::Node::import_records`] with two bars on a terminal: records
/// stored, then persons evaluated. Every bulk import of the binary (the
/// `import` command and the benchmarks' setup) goes through here.
pub fn import_records(
    node: &ymt_node::Node,
    records: &[ymt_node::model::EventRecord],
    importer: &str,
) -> Result<ymt_node::model::ImportSummary, ymt_node::NodeError> {
    use ymt_node::model::ImportProgress;
    let storing = bar(records.len() as u64, "storing events");
    let mut evaluating: Option<indicatif::ProgressBar> = None;
    let summary = node.import_records_with_progress(records, importer, &mut |step| match step {
        ImportProgress::Stored { records_done, .. } => storing.set_position(records_done as u64),
        ImportProgress::Evaluated {
            persons_done,
            persons_total,
        } => {
            storing.finish_and_clear();
            evaluating
                .get_or_insert_with(|| bar(persons_total as u64, "evaluating persons"))
                .set_position(persons_done as u64);
        }
    });
    storing.finish_and_clear();
    if let Some(evaluating) = evaluating {
        evaluating.finish_and_clear();
    }
    summary
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
