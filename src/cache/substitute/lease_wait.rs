//! Waiting for another host's build of the same recipe: when no
//! substituter has a realisation, the build lease decides who builds
//! (`super::lease`); a host that lost the claim waits, bounded by the
//! backoff policy, for the holder to push, and builds itself when the
//! lease expires, the wait runs out or a cache fails.

use super::lease::{Backoff, Claim, Leases};
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
        if leases.holds(key) {
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
            loop {
                if !backoff.pause() {
                    (self.warn)(&format!(
                        "waited {:.1} s for {holder}'s build of {}, the most allowed; building it here",
                        backoff.waited().as_secs_f64(),
                        expect.rock
                    ));
                    return None;
                }
                if let Some(hit) = self.ask_again(key, expect) {
                    return Some(hit);
                }
                match leases.still_held(&doc, key) {
                    Ok(true) => continue,
                    // Released or expired: look once more, then claim.
                    Ok(false) => break,
                    Err(_) => return None,
                }
            }
            if let Some(hit) = self.ask_again(key, expect) {
                return Some(hit);
            }
        }
        None
    }
}

/// `HH:MM:SS` of Unix time `secs`, UTC (a lease lasts minutes, so the
/// time of day says when).
fn time_of_day(secs: u64) -> String {
    let day = secs % 86_400;
    format!("{:02}:{:02}:{:02}", day / 3600, day % 3600 / 60, day % 60)
}
