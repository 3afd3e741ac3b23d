//! `torpor-sqlite`: executes the core's store operations against one SQLite file.
//!
//! Not built yet: the hibernation index, actor registry and actor KV arrive with the SQLite
//! adapter issue. The crate exists so the workspace layout is final.
