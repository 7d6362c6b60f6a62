//! Background jobs as clients see them: what kind, how far, what went wrong.

use time::OffsetDateTime;

use super::JobId;

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// Imports products from a CSV upload.
    ProductImport,
}

impl JobKind {
    /// As stored and shown.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ProductImport => "product_import",
        }
    }

    /// From its stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        (raw == "product_import").then_some(Self::ProductImport)
    }
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    /// Waiting for a worker.
    Queued,
    /// A worker holds it.
    Running,
    /// Done; bad rows, if any, are in its errors.
    Succeeded,
    /// Stopped for good; why is in its errors.
    Failed,
}

impl JobStatus {
    /// As stored and shown.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    /// From its stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "queued" => Some(Self::Queued),
            "running" => Some(Self::Running),
            "succeeded" => Some(Self::Succeeded),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// One problem: with the CSV row it is about (1 is the first row after the header), or
/// about the whole job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobError {
    /// The row, when the problem is one row's.
    pub row: Option<u64>,
    /// What is wrong.
    pub message: String,
}

/// A job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Its id.
    pub id: JobId,
    /// What it does.
    pub kind: JobKind,
    /// Where it is.
    pub status: JobStatus,
    /// Rows handled so far (imported, skipped as already there, or refused).
    pub done: u64,
    /// Rows in all; 0 until a worker has counted them.
    pub total: u64,
    /// Problems, by row.
    pub errors: Vec<JobError>,
    /// When it was queued.
    pub created_at: OffsetDateTime,
    /// When it last moved.
    pub updated_at: OffsetDateTime,
}

impl Job {
    /// A job of `kind` queued at `now`, nothing counted yet.
    pub fn queued(id: JobId, kind: JobKind, now: OffsetDateTime) -> Self {
        Self {
            id,
            kind,
            status: JobStatus::Queued,
            done: 0,
            total: 0,
            errors: Vec::new(),
            created_at: now,
            updated_at: now,
        }
    }
}

/// The header line a product import must start with.
pub const IMPORT_HEADER: &str = "name,description,price,stock";

/// Whether `line` is the import header (a UTF-8 byte-order mark and `\r` allowed).
pub fn is_import_header(line: &str) -> bool {
    let line = line.strip_prefix('\u{feff}').unwrap_or(line);
    line.strip_suffix('\r').unwrap_or(line) == IMPORT_HEADER
}
