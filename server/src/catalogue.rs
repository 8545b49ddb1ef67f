//! `glint metadefs load DIR`: loads a metadata definitions catalogue in Glance's format (one
//! namespace per `*.json` file, as in Glance's `etc/metadefs/`), as `glance-manage
//! db_load_metadefs` does: a namespace already in the database is skipped, merged (missing
//! parts added; with `prefer_new`, the file's version of existing parts too) or overwritten.

use std::path::{Path, PathBuf};

use crate::db::Db;
pub use crate::db::metadefs::{LoadMode, Loaded};

/// What happened to one file.
#[derive(Debug)]
pub struct FileOutcome {
    pub file: PathBuf,
    /// The namespace and what was done with it, or why the file was not loaded.
    pub result: Result<(String, Loaded), String>,
}

/// Loads every `*.json` file of `dir` in name order. A file that cannot be read or is not a
/// valid namespace is reported and the others are still loaded; a database failure stops it.
pub async fn load_dir(
    db: &Db,
    dir: &Path,
    mode: LoadMode,
) -> Result<Vec<FileOutcome>, crate::StartError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| crate::StartError::Config {
            message: format!("cannot read {}: {e}", dir.display()),
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json") && p.is_file())
        .collect();
    files.sort();
    let mut outcomes = Vec::with_capacity(files.len());
    for file in files {
        let parsed = std::fs::read(&file)
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                serde_json::from_slice::<serde_json::Value>(&bytes).map_err(|e| e.to_string())
            })
            .and_then(|v| match v {
                serde_json::Value::Object(map) => {
                    crate::metadefs::namespace_doc(&map, None, true).map_err(|e| e.0)
                }
                _ => Err("not a JSON object".to_string()),
            });
        let result = match parsed {
            Ok(doc) => {
                let loaded = db.load_namespace(&doc, mode).await?;
                Ok((doc.namespace.namespace, loaded))
            }
            Err(why) => Err(why),
        };
        outcomes.push(FileOutcome { file, result });
    }
    Ok(outcomes)
}
