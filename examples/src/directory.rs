//! A trigger type written outside scalers: `directory`, the number of files waiting in a
//! directory.
//!
//! Metadata: `path` (required), `fileCount` (files per replica, default 5) and
//! `activationFileCount` (default 0). Files whose name starts with `.` are not counted.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use scalers_core::trigger::{
    Invalid, MetricTarget, Params, Registry, Sample, Trigger, TriggerError, TriggerErrorKind,
};

/// The trigger type name used in configs (`type: directory`).
pub const TYPE: &str = "directory";

/// Counts the files waiting in a directory.
#[derive(Debug)]
pub struct DirectoryTrigger {
    path: PathBuf,
    target: MetricTarget,
}

impl DirectoryTrigger {
    /// Builds the trigger from its parameters; no I/O.
    ///
    /// # Errors
    /// [`Invalid`] after recording every problem in `p`.
    pub fn from_params(p: &mut Params<'_>) -> Result<Self, Invalid> {
        let path = p.required_str("path");
        let files = p.f64_or("fileCount", 5.0);
        let activation = p.f64_or("activationFileCount", 0.0);
        let (path, files, activation) = (path?, files?, activation?);
        if files <= 0.0 {
            return Err(p.error("fileCount", format!("must be greater than 0, got {files}")));
        }
        Ok(DirectoryTrigger {
            path: PathBuf::from(path),
            target: MetricTarget {
                value: files,
                metric_type: p.spec().metric_type,
                activation_threshold: activation,
            },
        })
    }
}

#[async_trait]
impl Trigger for DirectoryTrigger {
    fn target(&self) -> MetricTarget {
        self.target
    }

    async fn sample(&self) -> Result<Sample, TriggerError> {
        let mut entries = tokio::fs::read_dir(&self.path).await.map_err(|e| {
            TriggerError::new(
                TriggerErrorKind::Unavailable,
                format!("cannot list {}", self.path.display()),
            )
            .with_source(e)
        })?;
        let mut count = 0u32;
        loop {
            match entries.next_entry().await {
                Ok(Some(entry)) => {
                    let visible = !entry.file_name().to_string_lossy().starts_with('.');
                    if visible && entry.file_type().await.is_ok_and(|t| t.is_file()) {
                        count += 1;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    return Err(TriggerError::new(
                        TriggerErrorKind::BadResponse,
                        format!("cannot read {}", self.path.display()),
                    )
                    .with_source(e));
                }
            }
        }
        Ok(Sample::new(
            f64::from(count),
            self.target.activation_threshold,
        ))
    }
}

/// Registers `type: directory`.
pub fn register(registry: &mut Registry) {
    registry.register(TYPE, |p| {
        Ok(Arc::new(DirectoryTrigger::from_params(p)?) as Arc<dyn Trigger>)
    });
}
