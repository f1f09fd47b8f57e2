//! Waiting for another host's build of the same recipe: when no
//! substituter has a realisation, the build lease decides who builds
//! (`super::lease`); a host that lost the claim waits, bounded by the
//! backoff policy, for the holder to push, and builds itself when the
//! lease expires, the wait runs out or a cache fails.

use std::time::{Duration, Instant};

use super::lease::{Backoff, Claim, Leases, WaitOver};
use super::{Expect, Hit, Substituters};
use crate::store::content_hash::RecipeKey;

impl Substituters {
    /// A trusted realisation asked for again (not the run's memo), and
    /// remembered when found.
    fn ask_again(&self, key: &RecipeKey, expect: Expect<'_>) -> Option<Hit> {
        let hit = self.ask(key, expect)?;
        if let Ok(mut m) = self.found.lock() {
            m.insert(*key, Some(hit.clone()));
        }
        Some(hit)
    }

    /// No substituter has `key`: claims its lease (`None`: this host
    /// builds, holding it), or waits for the host that holds it to push
    /// its realisation (`Some`). A lease whose holder stops renewing it
    /// expires and is claimed again; a wait over the policy's bounds, or
    /// a cache that fails, ends in building here.
    pub(super) fn wait_for_build(
        &self,
        leases: &Leases,
        key: &RecipeKey,
        expect: Expect<'_>,
        watch: Option<&dyn crate::build_watch::BuildWatch>,
    ) -> Option<Hit> {
        // Held already: a `.src.rock` asks once before unpacking and once
        // for the rockspec inside.
        if leases.holds(key) || leases.given_up(key) {
            return None;
        }
        let mut backoff = Backoff::new(leases.policy());
        let mut waited_for: Option<String> = None;
        // Each round either waits (bounded by the backoff) or moves to a
        // later generation or holder; bounded anyway.
        for _ in 0..64 {
            let doc = match leases.claim(key) {
                Ok(Claim::Won) => {
                    // Pushed between the lookup and the claim: nothing to build.
                    if let Some(hit) = self.ask_again(key, expect) {
                        leases.release(key);
                        return Some(hit);
                    }
                    if let Some(holder) = waited_for {
                        (self.warn)(&format!(
                            "waited {:.1} s for {holder}'s build of {}; its lease on {} expired, building it here",
                            backoff.waited().as_secs_f64(),
                            expect.rock,
                            leases.url()
                        ));
                    }
                    return None;
                }
                Ok(Claim::Held(doc)) => doc,
                Err(e) => {
                    (self.warn)(&format!(
                        "cannot take the build lease of {} on {}: {e}; building it here",
                        expect.rock,
                        leases.url()
                    ));
                    return None;
                }
            };
            let holder = format!("{} (pid {})", doc.host, doc.pid);
            // A lease believed as long as the run allows already is not
            // waited on (nor announced): built here at once.
            if let Err(over) =
                leases.may_wait(Duration::ZERO, leases.seen_renewed(key, doc.generation))
            {
                self.wait_over(leases, over, &holder, key, expect.rock);
                return None;
            }
            if waited_for.as_ref() != Some(&holder) {
                // Said once per holder, where a log or a terminal shows it:
                // a wait is otherwise a silent pause.
                leases.note(&format!(
                    "waiting for {holder}'s build of {}: its lease on {} holds until {} UTC (in {} s) unless renewed",
                    expect.rock,
                    leases.url(),
                    time_of_day(doc.expires),
                    doc.expires.saturating_sub(super::lease::now_secs())
                ));
                if let Some(w) = watch {
                    w.doing(&format!(
                        "waiting for {holder} to build it ({})",
                        leases.url()
                    ));
                }
                waited_for = Some(holder.clone());
            }
            let watched_from = Instant::now();
            let outcome = loop {
                let renewed = leases.seen_renewed(key, doc.generation);
                if let Err(over) = leases.may_wait(watched_from.elapsed(), renewed) {
                    break Watched::Over(over);
                }
                if !backoff.pause() {
                    break Watched::Polled;
                }
                if let Some(hit) = self.ask_again(key, expect) {
                    break Watched::Found(Box::new(hit));
                }
                match leases.still_held(&doc, key) {
                    Ok(true) => continue,
                    // Released or expired: look once more, then claim.
                    Ok(false) => break Watched::Gone,
                    Err(_) => break Watched::Failed,
                }
            };
            leases.charge(
                watched_from.elapsed(),
                leases.seen_renewed(key, doc.generation),
            );
            match outcome {
                Watched::Found(hit) => return Some(*hit),
                Watched::Gone => {}
                Watched::Failed => return None,
                Watched::Over(over) => {
                    self.wait_over(leases, over, &holder, key, expect.rock);
                    return None;
                }
                Watched::Polled => {
                    (self.warn)(&format!(
                        "waited {:.1} s for {holder}'s build of {}, the most allowed; building it here",
                        backoff.waited().as_secs_f64(),
                        expect.rock
                    ));
                    return None;
                }
            }
            if let Some(hit) = self.ask_again(key, expect) {
                return Some(hit);
            }
        }
        None
    }
}

impl Substituters {
    /// Says why a wait for `holder`'s build of `rock` ended with building
    /// it here, remembered for the run.
    fn wait_over(
        &self,
        leases: &Leases,
        over: WaitOver,
        holder: &str,
        key: &RecipeKey,
        rock: &str,
    ) {
        leases.give_up(key);
        (self.warn)(&match over {
            WaitOver::Unrenewed(t) => format!(
                "{holder}'s lease on {} for {rock} is not seen renewed, and this run has waited {:.1} s on leases never renewed (planted, or left by killed hosts), all it allows for them: one lease timeout ({} s) and one look for a renewal; building it here",
                leases.url(),
                t.as_secs_f64(),
                leases.policy().ttl.as_secs()
            ),
            WaitOver::Run(t) => format!(
                "this run has waited {:.1} s in all for other hosts' builds, the most allowed; building {rock} here",
                t.as_secs_f64()
            ),
        });
    }
}

/// How watching one lease ended.
enum Watched {
    /// Its realisation arrived.
    Found(Box<Hit>),
    /// It was released or expired.
    Gone,
    /// Reading it failed.
    Failed,
    /// A bound of the run's waiting was reached.
    Over(WaitOver),
    /// The wait's polls ran out.
    Polled,
}

/// `HH:MM:SS` of Unix time `secs`, UTC (a lease lasts minutes, so the
/// time of day says when).
fn time_of_day(secs: u64) -> String {
    let day = secs % 86_400;
    format!("{:02}:{:02}:{:02}", day / 3600, day % 3600 / 60, day % 60)
}
