//! How an install's progress reaches the user. On a terminal: one line per
//! running build saying what it is doing (fetching, compiling `lpcode.c`,
//! installing) under an overall bar, and a permanent line as each rock is
//! done. Elsewhere (a pipe, a log, `--no-progress`): one plain line per
//! finished rock. `-q` keeps only warnings and the result; `-v` adds each
//! command as it runs, as LuaRocks prints them. Colour only on a terminal,
//! and never with `NO_COLOR`.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use rockstore::build::Built;
use rockstore::install::{finished_line, Action, InstallError, InstallPlan, Progress, Step};

/// How much is said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Warnings, errors and the result only (`-q`).
    Quiet,
    /// A line per rock.
    Normal,
    /// And every command (`-v`).
    Verbose,
}

/// The executor's watcher for the command line.
pub struct Watcher {
    level: Level,
    bars: Option<Bars>,
}

struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    running: Mutex<HashMap<usize, ProgressBar>>,
    colour: bool,
}

/// Whether colour may be used on stderr.
fn colour_allowed() -> bool {
    std::io::stderr().is_terminal() && !rockstore::env_vars::no_color()
}

impl Watcher {
    /// Bars when stderr is a terminal and `no_progress` is not set and the
    /// level is not quiet; plain lines otherwise.
    pub fn new(level: Level, no_progress: bool) -> Watcher {
        let bars =
            (std::io::stderr().is_terminal() && !no_progress && level != Level::Quiet).then(|| {
                let colour = colour_allowed();
                let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
                // Not drawn until the plan is known (added in `planned`).
                let overall = ProgressBar::hidden();
                let template = if colour {
                    "{prefix:.bold} [{bar:24.cyan/blue}] {pos}/{len} {msg}"
                } else {
                    "{prefix} [{bar:24}] {pos}/{len} {msg}"
                };
                overall.set_style(
                    ProgressStyle::with_template(template)
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                );
                overall.set_prefix("Installing");
                Bars {
                    multi,
                    overall,
                    running: Mutex::new(HashMap::new()),
                    colour,
                }
            });
        Watcher { level, bars }
    }

    /// A status line: above the bars on a terminal, else on stdout (as
    /// LuaRocks prints its status).
    fn line(&self, text: &str) {
        match &self.bars {
            Some(bars) => {
                let _ = bars.multi.println(text);
            }
            None => outln!("{text}"),
        }
    }

    /// Removes the bars (before the result is printed).
    pub fn finish(&self) {
        if let Some(bars) = &self.bars {
            bars.overall.finish_and_clear();
            let _ = bars.multi.clear();
        }
    }
}

impl Progress for Watcher {
    fn planned(&self, plan: &InstallPlan) {
        if let Some(bars) = &self.bars {
            let work = plan
                .steps
                .iter()
                .filter(|s| !matches!(s.action, Action::Installed(_) | Action::Pinned(_)))
                .count();
            bars.overall.set_length(work as u64);
            bars.multi.add(bars.overall.clone()).tick();
        }
    }

    fn started(&self, index: usize, step: &Step) {
        let Some(bars) = &self.bars else {
            return;
        };
        let bar = bars.multi.add(ProgressBar::new_spinner());
        let template = if bars.colour {
            "  {spinner:.green} {prefix:.bold} {msg}"
        } else {
            "  {spinner} {prefix} {msg}"
        };
        bar.set_style(
            ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(step.rock().to_string());
        bar.set_message("starting");
        bar.enable_steady_tick(Duration::from_millis(100));
        if let Ok(mut running) = bars.running.lock() {
            running.insert(index, bar);
        }
    }

    fn doing(&self, index: usize, _step: &Step, what: &str) {
        if let Some(bars) = &self.bars {
            if let Some(bar) = bars
                .running
                .lock()
                .ok()
                .and_then(|r| r.get(&index).cloned())
            {
                bar.set_message(what.to_owned());
            }
        }
    }

    fn command(&self, _index: usize, _step: &Step, line: &str) {
        if self.level == Level::Verbose {
            self.line(line);
        }
    }

    fn finished(&self, index: usize, step: &Step, built: &Built) {
        if let Some(bars) = &self.bars {
            if let Some(bar) = bars.running.lock().ok().and_then(|mut r| r.remove(&index)) {
                bar.finish_and_clear();
                bars.multi.remove(&bar);
            }
            bars.overall.inc(1);
        }
        if self.level != Level::Quiet {
            self.line(&finished_line(step, built));
        }
    }

    fn failed(&self, index: usize, step: &Step, _error: &InstallError) {
        if let Some(bars) = &self.bars {
            if let Some(bar) = bars.running.lock().ok().and_then(|mut r| r.remove(&index)) {
                bar.finish_and_clear();
                bars.multi.remove(&bar);
            }
        }
        match &self.bars {
            Some(bars) => {
                let _ = bars.multi.println(format!("{}: failed", step.rock()));
            }
            None => errln!("{}: failed", step.rock()),
        }
    }
}
