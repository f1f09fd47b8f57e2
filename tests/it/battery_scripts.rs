//! More battery rows (see `battery.rs` for what a row compares): the
//! LuaRocks 3.8 behaviours scripts and Dockerfiles rely on that issue 28
//! found unmatched, one row each.

use crate::battery::{rows, Compare, CODE, INSTALLED, TREES, WORK};

/// `remove --force` of a needed rock: what it says may break.
const BROKEN_LIST: Compare = Compare {
    stderr_lines: &[
        "The following packages may be broken by this forced removal",
        "appx 1.0-1",
    ],
    ..TREES
};

/// A rock file for an architecture no machine has: refused by its name.
const INCOMPATIBLE: Compare = Compare {
    stderr_lines: &["Incompatible architecture"],
    ..CODE
};

/// `new_version URL`: the rockspec it writes, by its bytes.
const NEW_VERSION_OF_A_URL: Compare = Compare {
    work_files: &["purelua-1.0-2.rockspec"],
    ..WORK
};

/// An error: `Error: ` first on stderr.
const ERROR_PREFIX: Compare = Compare {
    error_prefix: true,
    ..CODE
};

/// `build NAME` of a rock no server has.
const NO_RESULT: Compare = Compare {
    stderr_lines: &["Could not find a result named"],
    ..CODE
};

rows! {
    make_a_second_time_says_installed_again: [["download", "--rockspec", "tested"], ["make"]], ["make"], INSTALLED;
    remove_force_says_what_may_break: [["install", "appx"]], ["remove", "--force", "purelua"], BROKEN_LIST;
    install_a_rock_for_an_impossible_arch_says_incompatible: [], ["install", "foo-1.0-1.impossible-x86.rock"], INCOMPATIBLE;
    new_version_of_a_url_downloads_and_bumps_the_revision: [], ["new_version", "SERVER/purelua-1.0-1.rockspec"], NEW_VERSION_OF_A_URL;
    an_error_begins_with_error: [], ["install", "no-such-rock"], ERROR_PREFIX;
    build_of_a_rock_no_server_has: [], ["build", "no-such-rock"], NO_RESULT;
}
