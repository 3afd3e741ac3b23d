//! The actor SQLite page store: an actor's SQLite database kept as pages in the gateway's store
//! (envoy protocol v8), so the database survives sleep, crashes and moves like its KV data.
//!
//! The actor's VFS reads pages and commits dirty ones, either in one call or staged (begin,
//! segments, finalize) when a commit is too big for one frame. Every call is fenced twice:
//! * by **generation**: only the actor's current generation (the one the registry holds) may
//!   read or write, so an instance that outlived its allocation can never commit after a newer
//!   one started;
//! * by **head**: a call may name the transaction it expects to be the newest
//!   (`expected_head`); the store refuses it when another commit came in between.
//!
//! This module holds the vocabulary and the rules every store applies (limits, fences, the
//! engine's error shapes, which RivetKit's VFS matches on); a store executes the calls with
//! them. A database that was never committed does not exist: reading it answers
//! [`PageError::database_not_found`], which the VFS takes for an empty database, and its first
//! commit expects head 0.

use std::fmt;

/// Largest page: SQLite's maximum page size.
pub const MAX_PAGE_BYTES: usize = 65_536;
/// Smallest page: SQLite's minimum page size.
pub const MIN_PAGE_BYTES: usize = 512;
/// Most pages one read may ask for.
pub const MAX_PAGES_PER_READ: usize = 16_384;
/// Most bytes of pages in one commit, single-shot or staged (the VFS stages a commit in
/// segments of up to 4,000 pages; 256 MiB is 65,536 pages of 4 KiB).
pub const MAX_COMMIT_BYTES: u64 = 256 * 1024 * 1024;
/// Largest database, in pages (4 GiB of 4 KiB pages).
pub const MAX_DB_PAGES: u32 = 1 << 20;

/// One page an actor writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirtyPage {
    /// Page number, from 1.
    pub pgno: u32,
    /// The page.
    pub bytes: Vec<u8>,
}

/// What an actor asks of its database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageOp {
    /// Read pages.
    GetPages {
        /// Page numbers wanted.
        pgnos: Vec<u32>,
        /// The head the reader expects, if it names one.
        expected_head: Option<u64>,
    },
    /// Commit dirty pages in one transaction.
    Commit {
        /// The pages.
        pages: Vec<DirtyPage>,
        /// Database size after the commit, in pages: pages past it are dropped.
        db_size_pages: u32,
        /// The head the writer expects, if it names one.
        expected_head: Option<u64>,
    },
    /// Begin a staged commit: the store allocates its transaction id (head + 1).
    StageBegin {
        /// The head the writer expects, if it names one.
        expected_head: Option<u64>,
    },
    /// Stage one segment of a staged commit.
    StageSegment {
        /// The staged transaction.
        txid: u64,
        /// Where the segment starts: a shard boundary (0 for the first shard), ascending
        /// across segments.
        first_pgno: u32,
        /// The pages, none below `first_pgno`.
        pages: Vec<DirtyPage>,
    },
    /// Make a staged commit visible, atomically.
    StageFinalize {
        /// The staged transaction; it must still be head + 1.
        txid: u64,
        /// Database size after the commit, in pages.
        db_size_pages: u32,
        /// First page of every segment the actor staged, to check none went missing.
        segment_first_pgnos: Vec<u32>,
    },
}

impl PageOp {
    /// Which call this is (its answer is encoded in that call's response type).
    pub fn kind(&self) -> PageOpKind {
        match self {
            Self::GetPages { .. } => PageOpKind::GetPages,
            Self::Commit { .. } => PageOpKind::Commit,
            Self::StageBegin { .. } => PageOpKind::StageBegin,
            Self::StageSegment { .. } => PageOpKind::StageSegment,
            Self::StageFinalize { .. } => PageOpKind::StageFinalize,
        }
    }
}

/// The calls of the page store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageOpKind {
    /// [`PageOp::GetPages`].
    GetPages,
    /// [`PageOp::Commit`].
    Commit,
    /// [`PageOp::StageBegin`].
    StageBegin,
    /// [`PageOp::StageSegment`].
    StageSegment,
    /// [`PageOp::StageFinalize`].
    StageFinalize,
}

/// The store's answer to a [`PageOp`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageAnswer {
    /// Pages read, one per requested page number in order (`None`: no such page), with the
    /// database's head.
    Pages {
        /// The pages.
        pages: Vec<(u32, Option<Vec<u8>>)>,
        /// The newest transaction.
        head: u64,
    },
    /// A commit (single-shot or finalized) applied; the new head.
    Committed {
        /// The newest transaction.
        head: u64,
    },
    /// A staged commit begun with this transaction id.
    StageBegun {
        /// The id.
        txid: u64,
    },
    /// A segment staged; bytes staged so far in this transaction.
    Staged {
        /// The running total.
        staged_bytes: u64,
    },
    /// Refused, nothing changed.
    Error(PageError),
}

/// A refusal in the engine's error shape (`group`, `code`, `message`); RivetKit's VFS matches
/// on some of them (see the constructors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageError {
    /// Error group.
    pub group: String,
    /// Error code.
    pub code: String,
    /// What happened.
    pub message: String,
}

impl fmt::Display for PageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}: {}", self.group, self.code, self.message)
    }
}

impl PageError {
    fn new(group: &str, code: &str, message: impl Into<String>) -> Self {
        Self {
            group: group.to_owned(),
            code: code.to_owned(),
            message: message.into(),
        }
    }

    /// The database was never committed. The VFS reads this exact message as "empty database"
    /// when it opens one.
    pub fn database_not_found() -> Self {
        Self::new(
            "depot",
            "database_not_found",
            "sqlite database was not found in this bucket branch",
        )
    }

    /// Another commit came in between: the caller's view is stale. The VFS matches the group
    /// and code and gives up on the database (two instances must never share it).
    pub fn head_fence_mismatch(expected: u64, head: u64) -> Self {
        Self::new(
            "depot",
            "head_fence_mismatch",
            format!("expected head txid {expected}, database head is {head}"),
        )
    }

    /// The actor is unknown, or not hosted by the caller. The engine's words, which the VFS
    /// also reads as "empty database" when opening one (a stale instance's commits are
    /// refused anyway).
    pub fn actor_not_found() -> Self {
        Self::new("actor", "not_found", "actor does not exist")
    }

    /// The caller is not the actor's current generation: a newer instance was started.
    pub fn generation_mismatch(caller: u64, current: u64) -> Self {
        Self::new(
            "actor",
            "generation_mismatch",
            format!("actor generation {caller} is stale: generation {current} was started since"),
        )
    }

    /// A commit over [`MAX_COMMIT_BYTES`], in the engine's words.
    pub fn commit_too_large(actual: u64) -> Self {
        Self::new(
            "depot",
            "commit_too_large",
            format!(
                "sqlite commit too large: actual_size_bytes={actual}, max_size_bytes={MAX_COMMIT_BYTES}"
            ),
        )
    }

    /// A malformed call.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new("sqlite", "invalid_request", message)
    }

    /// The store failed; the call had no effect and may be retried.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new("sqlite", "unavailable", message)
    }
}

/// The calls' own checks, before the store reads anything: page numbers, page sizes, sizes.
pub fn validate(op: &PageOp) -> Result<(), PageError> {
    match op {
        PageOp::GetPages { pgnos, .. } => {
            if pgnos.len() > MAX_PAGES_PER_READ {
                return Err(PageError::invalid(format!(
                    "a read may ask for at most {MAX_PAGES_PER_READ} pages, not {}",
                    pgnos.len()
                )));
            }
            if pgnos.contains(&0) {
                return Err(PageError::invalid("page numbers start at 1"));
            }
            Ok(())
        }
        PageOp::Commit {
            pages,
            db_size_pages,
            ..
        } => {
            check_db_size(*db_size_pages)?;
            check_pages(pages, 1)?;
            let bytes = pages_bytes(pages);
            if bytes > MAX_COMMIT_BYTES {
                return Err(PageError::commit_too_large(bytes));
            }
            if let Some(p) = pages.iter().find(|p| p.pgno > *db_size_pages) {
                return Err(PageError::invalid(format!(
                    "page {} is past the database size of {db_size_pages} pages",
                    p.pgno
                )));
            }
            Ok(())
        }
        PageOp::StageBegin { .. } => Ok(()),
        // A segment starts on a shard boundary, so the first one starts at 0; its pages still
        // start at 1.
        PageOp::StageSegment {
            first_pgno, pages, ..
        } => check_pages(pages, (*first_pgno).max(1)),
        PageOp::StageFinalize { db_size_pages, .. } => check_db_size(*db_size_pages),
    }
}

/// The pages' total size, as charged against [`MAX_COMMIT_BYTES`].
pub fn pages_bytes(pages: &[DirtyPage]) -> u64 {
    pages.iter().map(|p| p.bytes.len() as u64).sum()
}

fn check_db_size(db_size_pages: u32) -> Result<(), PageError> {
    if db_size_pages > MAX_DB_PAGES {
        return Err(PageError::invalid(format!(
            "a database may hold at most {MAX_DB_PAGES} pages, not {db_size_pages}"
        )));
    }
    Ok(())
}

/// Every page numbered from `first`, each once, each a valid SQLite page size, all one size.
fn check_pages(pages: &[DirtyPage], first: u32) -> Result<(), PageError> {
    let mut seen = std::collections::BTreeSet::new();
    for p in pages {
        if p.pgno < first {
            return Err(PageError::invalid(format!(
                "page {} is below the segment's first page {first}",
                p.pgno
            )));
        }
        if !seen.insert(p.pgno) {
            return Err(PageError::invalid(format!("page {} written twice", p.pgno)));
        }
        let len = p.bytes.len();
        if !(MIN_PAGE_BYTES..=MAX_PAGE_BYTES).contains(&len) || !len.is_power_of_two() {
            return Err(PageError::invalid(format!(
                "page {} has {len} bytes, not a SQLite page size",
                p.pgno
            )));
        }
    }
    if let Some(first) = pages.first() {
        if let Some(p) = pages.iter().find(|p| p.bytes.len() != first.bytes.len()) {
            return Err(PageError::invalid(format!(
                "page {} has {} bytes, page {} has {}: one database has one page size",
                p.pgno,
                p.bytes.len(),
                first.pgno,
                first.bytes.len()
            )));
        }
    }
    Ok(())
}

/// The generation fence against the registry: `current` is the actor's generation as the
/// store holds it (`None`: no such actor).
pub fn check_generation(caller: u64, current: Option<u32>) -> Result<(), PageError> {
    match current {
        None => Err(PageError::actor_not_found()),
        Some(current) if u64::from(current) != caller => {
            Err(PageError::generation_mismatch(caller, u64::from(current)))
        }
        Some(_) => Ok(()),
    }
}

/// The head fence: a caller that names the head it expects must see exactly it (0 for a
/// database never committed).
pub fn check_head(expected: Option<u64>, head: u64) -> Result<(), PageError> {
    match expected {
        Some(expected) if expected != head => Err(PageError::head_fence_mismatch(expected, head)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(pgno: u32, len: usize) -> DirtyPage {
        DirtyPage {
            pgno,
            bytes: vec![7; len],
        }
    }

    #[test]
    fn commits_are_checked_before_anything_is_read() {
        let commit = |pages, db_size_pages| PageOp::Commit {
            pages,
            db_size_pages,
            expected_head: None,
        };
        assert_eq!(
            validate(&commit(vec![page(1, 4096), page(2, 4096)], 2)),
            Ok(())
        );
        let refused = |op: PageOp| validate(&op).unwrap_err().message;
        assert_eq!(
            refused(commit(vec![page(3, 4096)], 2)),
            "page 3 is past the database size of 2 pages"
        );
        assert_eq!(
            refused(commit(vec![page(1, 4096), page(1, 4096)], 2)),
            "page 1 written twice"
        );
        assert_eq!(
            refused(commit(vec![page(1, 4000)], 2)),
            "page 1 has 4000 bytes, not a SQLite page size"
        );
        assert_eq!(
            refused(commit(vec![page(1, 4096), page(2, 8192)], 2)),
            "page 2 has 8192 bytes, page 1 has 4096: one database has one page size"
        );
        assert_eq!(
            refused(commit(vec![page(0, 4096)], 2)),
            "page 0 is below the segment's first page 1"
        );
        assert_eq!(
            refused(commit(Vec::new(), MAX_DB_PAGES + 1)),
            format!(
                "a database may hold at most {MAX_DB_PAGES} pages, not {}",
                MAX_DB_PAGES + 1
            )
        );
        let segment = PageOp::StageSegment {
            txid: 1,
            first_pgno: 10,
            pages: vec![page(9, 4096)],
        };
        assert_eq!(
            refused(segment),
            "page 9 is below the segment's first page 10"
        );
        let read = PageOp::GetPages {
            pgnos: vec![1, 0],
            expected_head: None,
        };
        assert_eq!(refused(read), "page numbers start at 1");
    }

    #[test]
    fn a_commit_over_the_limit_is_too_large_in_the_engines_words() {
        let pages: Vec<DirtyPage> = (1..=4097).map(|n| page(n, MAX_PAGE_BYTES)).collect();
        let bytes = pages_bytes(&pages);
        assert!(bytes > MAX_COMMIT_BYTES);
        let err = validate(&PageOp::Commit {
            pages,
            db_size_pages: 4097,
            expected_head: None,
        })
        .unwrap_err();
        assert_eq!(
            (err.group.as_str(), err.code.as_str()),
            ("depot", "commit_too_large")
        );
        assert_eq!(
            err.message,
            format!("sqlite commit too large: actual_size_bytes={bytes}, max_size_bytes=268435456")
        );
    }

    #[test]
    fn fences_refuse_other_generations_and_stale_heads() {
        assert_eq!(check_generation(3, Some(3)), Ok(()));
        assert_eq!(check_generation(3, None), Err(PageError::actor_not_found()));
        let stale = check_generation(2, Some(3)).unwrap_err();
        assert_eq!(
            (stale.group.as_str(), stale.code.as_str()),
            ("actor", "generation_mismatch")
        );
        assert_eq!(
            stale.message,
            "actor generation 2 is stale: generation 3 was started since"
        );
        // A newer caller than the registry knows is refused as well: it cannot exist yet.
        assert!(check_generation(4, Some(3)).is_err());
        assert_eq!(check_head(None, 5), Ok(()));
        assert_eq!(check_head(Some(5), 5), Ok(()));
        let err = check_head(Some(4), 5).unwrap_err();
        assert_eq!(
            (err.group.as_str(), err.code.as_str()),
            ("depot", "head_fence_mismatch")
        );
    }
}
