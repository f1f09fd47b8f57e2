//! Operations the command line runs that are more than one library call:
//! each takes plain arguments, does the work and tells people through a
//! [`crate::reporter::Reporter`], so the command that calls it is parsing,
//! one call and printing (issue 23, item 2). This is where the rest of the
//! CLI's library work moves as it is taken out of `src/cli/`.
//!
//! - [`session`]: one command's rocks-server session (servers, manifests
//!   read once, finding and fetching a rock's files).
//! - [`copy`]: `rockstore copy`'s fetch into the store and a tree's items.
//! - [`pack`]: a rockspec and its sources as a `.src.rock`; the installed
//!   rock `pack NAME` means.
//! - [`sign`]: a detached gpg signature beside a rock or rockspec.
//! - [`template`]: a new rockspec for a project, inferred from its
//!   directory (it may clone a git source, so it sits above `build`).
//! - [`write_rockspec`]: `new_version` and `write_rockspec`, from the
//!   rockspec they start from to the file written.
//!
//! It owns no format: rockspecs, rock files and manifests stay in
//! `rockspec`, `rock_file` and `manifest`.

pub mod copy;
pub mod pack;
pub mod session;
pub mod sign;
pub mod template;
pub mod write_rockspec;
