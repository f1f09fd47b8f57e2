//! [`BuildWatch`]: what a build (or a substitution standing in for one)
//! tells whoever watches it. A leaf, so a cache's substituter can report
//! progress without importing the builder.

/// What a build tells its watcher as it goes: progress bars show `doing`,
/// `-v` prints each command as LuaRocks prints it.
pub trait BuildWatch: Sync {
    /// The build moved on (`fetching …`, `compiling lpcode.c`, `installing`).
    fn doing(&self, what: &str);
    /// A command about to run, as a shell line.
    fn command(&self, _line: &str) {}
    /// How the build is isolated (a daemon build: its build user, its
    /// sandbox).
    fn isolated(&self, how: &str) {
        self.doing(how);
    }
}
