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
