//! The actor SQLite page store and statement calls of envoy protocol v8: page reads, commits
//! (single-shot, or staged as begin, segments and finalize), and SQL run by the engine.
//!
//! Field names are the schema's in snake case; field order is the schema's and defines the bytes.

use crate::wire::{ListElement, wire_struct, wire_union};

wire_struct! {
    /// A page the actor writes.
    pub struct SqliteDirtyPage {
        /// Page number.
        pub pgno: u32,
        /// The page.
        pub bytes: Vec<u8>,
    }
}

wire_struct! {
    /// A page the engine returns; `None` when the page does not exist.
    pub struct SqliteFetchedPage {
        /// Page number.
        pub pgno: u32,
        /// The page, if stored.
        pub bytes: Option<Vec<u8>>,
    }
}

wire_struct! {
    /// Reads pages of the actor's database.
    pub struct SqliteGetPagesRequest {
        /// The actor.
        pub actor_id: String,
        /// Page numbers wanted.
        pub pgnos: Vec<u32>,
        /// Fence: the actor generation the reader belongs to.
        pub expected_generation: Option<u64>,
        /// Fence: the head transaction the reader expects.
        pub expected_head_txid: Option<u64>,
    }
}

wire_struct! {
    /// Pages read.
    pub struct SqliteGetPagesOk {
        /// One entry per requested page.
        pub pages: Vec<SqliteFetchedPage>,
        /// The database's head transaction, if it has one.
        pub head_txid: Option<u64>,
    }
}

wire_struct! {
    /// An engine error in the engine's error shape.
    pub struct SqliteErrorResponse {
        /// Error group.
        pub group: String,
        /// Error code.
        pub code: String,
        /// Message.
        pub message: String,
    }
}

wire_union! {
    /// Answer to a page read.
    pub enum SqliteGetPagesResponse: "Sqlite", "" {
        /// The pages.
        0 => GetPagesOk(SqliteGetPagesOk),
        /// An error.
        1 => ErrorResponse(SqliteErrorResponse),
    }
}

wire_struct! {
    /// Commits dirty pages in one transaction.
    pub struct SqliteCommitRequest {
        /// The actor.
        pub actor_id: String,
        /// Pages written.
        pub dirty_pages: Vec<SqliteDirtyPage>,
        /// Database size after the commit, in pages.
        pub db_size_pages: u32,
        /// The actor's clock, epoch milliseconds.
        pub now_ms: i64,
        /// Fence: the actor generation the writer belongs to.
        pub expected_generation: Option<u64>,
        /// Fence: the head transaction the writer expects.
        pub expected_head_txid: Option<u64>,
    }
}

wire_struct! {
    /// A commit applied.
    pub struct SqliteCommitOk {
        /// The new head transaction.
        pub head_txid: Option<u64>,
    }
}

wire_union! {
    /// Answer to a commit.
    pub enum SqliteCommitResponse: "Sqlite", "" {
        /// Applied.
        0 => CommitOk(SqliteCommitOk),
        /// An error.
        1 => ErrorResponse(SqliteErrorResponse),
    }
}

wire_struct! {
    /// Starts a staged commit (fenced before any bytes are staged).
    pub struct SqliteCommitStageBeginRequest {
        /// The actor.
        pub actor_id: String,
        /// Fence: the actor generation.
        pub expected_generation: Option<u64>,
        /// Fence: the head transaction.
        pub expected_head_txid: Option<u64>,
    }
}

wire_struct! {
    /// A staged commit begun.
    pub struct SqliteCommitStageBeginOk {
        /// The transaction id the engine allocated (head + 1).
        pub txid: u64,
    }
}

wire_union! {
    /// Answer to a stage begin.
    pub enum SqliteCommitStageBeginResponse: "Sqlite", "" {
        /// Begun.
        0 => CommitStageBeginOk(SqliteCommitStageBeginOk),
        /// An error.
        1 => ErrorResponse(SqliteErrorResponse),
    }
}

wire_struct! {
    /// One shard-aligned segment of a staged commit.
    pub struct SqliteCommitStageSegmentRequest {
        /// The actor.
        pub actor_id: String,
        /// Fence: the actor generation.
        pub expected_generation: Option<u64>,
        /// The staged transaction.
        pub txid: u64,
        /// First page of the segment: shard-aligned, ascending across segments.
        pub first_pgno: u32,
        /// Pages of the segment.
        pub dirty_pages: Vec<SqliteDirtyPage>,
    }
}

wire_struct! {
    /// A segment staged.
    pub struct SqliteCommitStageSegmentOk {
        /// Bytes staged so far.
        pub staged_bytes: u64,
    }
}

wire_union! {
    /// Answer to a staged segment.
    pub enum SqliteCommitStageSegmentResponse: "Sqlite", "" {
        /// Staged.
        0 => CommitStageSegmentOk(SqliteCommitStageSegmentOk),
        /// An error.
        1 => ErrorResponse(SqliteErrorResponse),
    }
}

wire_struct! {
    /// Makes a staged commit visible.
    pub struct SqliteCommitFinalizeRequest {
        /// The actor.
        pub actor_id: String,
        /// Fence: the actor generation.
        pub expected_generation: Option<u64>,
        /// The staged transaction; it must still be head + 1.
        pub txid: u64,
        /// Database size after the commit, in pages.
        pub new_db_size_pages: u32,
        /// The actor's clock, epoch milliseconds.
        pub now_ms: i64,
        /// First page of every segment the actor staged.
        pub segment_first_pgnos: Vec<u32>,
    }
}

wire_struct! {
    /// A staged commit finalized.
    pub struct SqliteCommitFinalizeOk {
        /// The new head transaction.
        pub head_txid: Option<u64>,
    }
}

wire_union! {
    /// Answer to a finalize.
    pub enum SqliteCommitFinalizeResponse: "Sqlite", "" {
        /// Finalized.
        0 => CommitFinalizeOk(SqliteCommitFinalizeOk),
        /// An error.
        1 => ErrorResponse(SqliteErrorResponse),
    }
}

wire_struct! {
    /// An integer value.
    pub struct SqliteValueInteger {
        /// The value.
        pub value: i64,
    }
}

wire_struct! {
    /// A float value, as the eight bytes of an `f64` (fixed length on the wire).
    pub struct SqliteValueFloat {
        /// The bytes.
        pub value: [u8; 8],
    }
}

wire_struct! {
    /// A text value.
    pub struct SqliteValueText {
        /// The text.
        pub value: String,
    }
}

wire_struct! {
    /// A blob value.
    pub struct SqliteValueBlob {
        /// The bytes.
        pub value: Vec<u8>,
    }
}

wire_union! {
    /// A statement parameter.
    pub enum SqliteBindParam: "SqliteValue", "" {
        /// NULL.
        0 => Null,
        /// Integer.
        1 => Integer(SqliteValueInteger),
        /// Float.
        2 => Float(SqliteValueFloat),
        /// Text.
        3 => Text(SqliteValueText),
        /// Blob.
        4 => Blob(SqliteValueBlob),
    }
}

wire_union! {
    /// A result column value.
    pub enum SqliteColumnValue: "SqliteValue", "" {
        /// NULL.
        0 => Null,
        /// Integer.
        1 => Integer(SqliteValueInteger),
        /// Float.
        2 => Float(SqliteValueFloat),
        /// Text.
        3 => Text(SqliteValueText),
        /// Blob.
        4 => Blob(SqliteValueBlob),
    }
}

/// A row is itself a list: results are `list<list<SqliteColumnValue>>`.
impl ListElement for Vec<SqliteColumnValue> {}

wire_struct! {
    /// Rows of a query.
    pub struct SqliteQueryResult {
        /// Column names.
        pub columns: Vec<String>,
        /// Rows, one value per column.
        pub rows: Vec<Vec<SqliteColumnValue>>,
    }
}

wire_struct! {
    /// Rows of a statement, with what it changed.
    pub struct SqliteExecuteResult {
        /// Column names.
        pub columns: Vec<String>,
        /// Rows, one value per column.
        pub rows: Vec<Vec<SqliteColumnValue>>,
        /// Rows changed.
        pub changes: i64,
        /// Last inserted row id, if any.
        pub last_insert_row_id: Option<i64>,
    }
}

wire_struct! {
    /// Runs SQL text (possibly several statements) without parameters.
    pub struct SqliteExecRequest {
        /// The actor's namespace.
        pub namespace_id: String,
        /// The actor.
        pub actor_id: String,
        /// Fence: the actor generation.
        pub generation: u64,
        /// SQL text.
        pub sql: String,
    }
}

wire_struct! {
    /// Runs one statement with parameters.
    pub struct SqliteExecuteRequest {
        /// The actor's namespace.
        pub namespace_id: String,
        /// The actor.
        pub actor_id: String,
        /// Fence: the actor generation.
        pub generation: u64,
        /// SQL text.
        pub sql: String,
        /// Parameters.
        pub params: Option<Vec<SqliteBindParam>>,
    }
}

wire_struct! {
    /// One statement of a batch.
    pub struct SqliteBatchStatement {
        /// SQL text.
        pub sql: String,
        /// Parameters.
        pub params: Option<Vec<SqliteBindParam>>,
    }
}

wire_struct! {
    /// Runs statements in one transaction.
    pub struct SqliteExecuteBatchRequest {
        /// The actor's namespace.
        pub namespace_id: String,
        /// The actor.
        pub actor_id: String,
        /// Fence: the actor generation.
        pub generation: u64,
        /// The statements.
        pub statements: Vec<SqliteBatchStatement>,
    }
}

wire_struct! {
    /// An exec's rows.
    pub struct SqliteExecOk {
        /// The result.
        pub result: SqliteQueryResult,
    }
}

wire_struct! {
    /// A statement's result.
    pub struct SqliteExecuteOk {
        /// The result.
        pub result: SqliteExecuteResult,
    }
}

wire_struct! {
    /// A batch's results, one per statement.
    pub struct SqliteExecuteBatchOk {
        /// The results.
        pub results: Vec<SqliteExecuteResult>,
    }
}

wire_union! {
    /// Answer to an exec.
    pub enum SqliteExecResponse: "Sqlite", "" {
        /// The rows.
        0 => ExecOk(SqliteExecOk),
        /// An error.
        1 => ErrorResponse(SqliteErrorResponse),
    }
}

wire_union! {
    /// Answer to an execute.
    pub enum SqliteExecuteResponse: "Sqlite", "" {
        /// The result.
        0 => ExecuteOk(SqliteExecuteOk),
        /// An error.
        1 => ErrorResponse(SqliteErrorResponse),
    }
}

wire_union! {
    /// Answer to a batch.
    pub enum SqliteExecuteBatchResponse: "Sqlite", "" {
        /// The results.
        0 => ExecuteBatchOk(SqliteExecuteBatchOk),
        /// An error.
        1 => ErrorResponse(SqliteErrorResponse),
    }
}
