use std::path::Path;

use attest_hash::{FileSet, StatCache, WorkspaceFilter, hash_file};
use serde_json::json;

use crate::args::{Format, HashArgs};
use crate::exit_status::ExitStatus;
use crate::printer::Printer;
use crate::user_error::UserError;

/// `attest hash PATH...`: BLAKE3 digests as attest computes them, one line per file in
/// `b3sum` format, files hashed in parallel; patterns as in `inputs`.
pub(crate) fn hash(cwd: &Path, args: &HashArgs, printer: Printer) -> anyhow::Result<ExitStatus> {
    let filter = WorkspaceFilter::new(cwd).map_err(|e| UserError::new(e.to_string()))?;
    let mut lines = Vec::new();
    let mut entries = Vec::new();
    for arg in &args.paths {
        let path = Path::new(arg);
        let meta = std::fs::metadata(cwd.join(path)).ok();
        if path.is_absolute() || meta.as_ref().is_some_and(std::fs::Metadata::is_file) {
            let size = meta.map_or(0, |m| m.len());
            let digest = hash_file(&cwd.join(path), size).map_err(|e| UserError::new(format!("{e}: {}", e.source)))?;
            lines.push(format!("{}  {arg}", digest.hex()));
            entries.push(json!({"path": arg, "digest": digest}));
            continue;
        }
        let set = FileSet::resolve(&filter, std::slice::from_ref(arg)).map_err(|e| UserError::new(e.to_string()))?;
        if set.files().iter().all(|f| f.meta.is_none()) {
            return Err(UserError::new(format!("`{arg}` matches no file")).into());
        }
        let manifest =
            set.into_manifest(cwd, &StatCache::new()).map_err(|e| UserError::new(format!("{e}: {}", e.source)))?;
        for entry in manifest.entries() {
            if let Some(digest) = entry.digest {
                lines.push(format!("{}  {}", digest.hex(), entry.path));
                entries.push(json!({"path": entry.path, "digest": digest}));
            }
        }
        if args.format == Format::Json {
            entries.push(json!({"pattern": arg, "manifest_digest": manifest.digest(), "files": manifest.len()}));
        }
    }
    match args.format {
        Format::Human => printer.data(&lines.join("\n")),
        Format::Json => printer.data(&json!({"entries": entries}).to_string()),
    }
    Ok(ExitStatus::Success)
}
